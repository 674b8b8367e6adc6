"""Config validation: one clear line per mistake; the command line exits 2 and starts nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from performia.config import ConfigError, config_from_dict, load_config
from tests.conftest import run_cli


def test_the_shipped_config_is_valid() -> None:
    config = load_config()
    assert config.server.port == 57110 and config.server.block_size == 64
    assert config.jack.period % config.server.block_size == 0


@pytest.mark.parametrize(("data", "message"), [
    ({"server": {"prot": 1}}, "[server] unknown key 'prot': allowed keys are executable, port"),
    ({"serveur": {}}, "unknown section [serveur]: allowed sections are server"),
    ({"server": {"port": "57110"}}, "[server] port = '57110': must be a whole number"),
    ({"server": {"port": 80}}, "[server] port = 80: must be between 1024 and 65535"),
    ({"server": {"block_size": 100}}, "[server] block_size = 100: must be one of 16, 32, 64"),
    ({"band": {"style": "polka"}}, "[band] style = 'polka': must be one of 'rock', 'funk'"),
    ({"jack": {"realtime": "yes"}}, "[jack] realtime = 'yes': must be true or false"),
    ({"band": {"progression": "E:min"}}, "[band] progression = 'E:min': must be a list"),
    ({"jack": {"period": 32}}, "[server] block_size = 64: must divide [jack] period = 32"),
])
def test_a_bad_value_names_the_key_and_what_is_allowed(data: dict[str, dict[str, object]],
                                                       message: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict(data)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_the_command_line_exits_2_with_one_line_and_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nthreads = 0\n")
    result = run_cli("--realtime", "--config", str(bad), "--duration", "1", "--no-gui")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["performia: config error: [server] threads = 0: must be between 1 and 64"]
    assert result.stdout == ""


def test_a_bad_command_line_key_is_a_config_error(tmp_path: Path) -> None:
    result = run_cli("--realtime", "--key", "H:min", "--duration", "1", "--no-gui")
    assert result.returncode == 2
    assert "unknown note name 'H'" in result.stderr
