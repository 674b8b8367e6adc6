"""Supervision without processes: restart budgets per child and time window, the GUI's
back-off, its reports at most once a minute, and a taken port reported once with its fix."""

from __future__ import annotations

import logging
import socket
import sys
import time
from dataclasses import dataclass

import pytest

from performia.config import ConfigError, config_from_dict, load_config, replace
from performia.manager import GUI_REPORT_PERIOD, GuiKeeper, Manager, RunOptions, port_problem
from performia.processes import (
    EXIT_PORT_TAKEN,
    Backoff,
    Child,
    RestartBudget,
    describe_exit,
    spawn,
    stop_all,
)


def test_a_budget_counts_restarts_in_a_sliding_window() -> None:
    budget = RestartBudget(limit=5, window=60.0)
    assert all(budget.take(t) for t in (0, 1, 2, 3, 4))
    assert not budget.take(5)                    # the sixth within 60 s
    assert not budget.take(59.9)
    assert budget.take(60.0)                     # the first has left the window
    assert budget.take(61.0) and not budget.take(61.5)


def test_budgets_of_two_children_are_not_shared() -> None:
    a, b = RestartBudget(2, 60.0), RestartBudget(2, 60.0)
    assert a.take(0) and a.take(1) and not a.take(2)
    assert b.take(2) and b.take(3)


def test_the_backoff_doubles_up_to_its_limit_and_resets_after_a_stable_run() -> None:
    backoff = Backoff(first=1.0, longest=30.0, stable=30.0)
    assert [backoff.next_delay(0.5) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.next_delay(45.0) == 1         # it had stayed up: start again at 1 s
    for _ in range(2000):                        # a whole night of failures: no overflow
        backoff.next_delay(0.0)
    assert backoff.next_delay(0.0) == 30


def test_exits_are_described_for_a_musician() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(1) == "exit 1" and describe_exit(None) == "still running"


def test_the_budget_keys_are_validated() -> None:
    config = config_from_dict({"supervision": {"max_restarts": 3, "restart_window": 10}})
    assert config.supervision.max_restarts == 3 and config.supervision.restart_window == 10.0
    assert load_config().supervision.gui_max_backoff == 30.0
    with pytest.raises(ConfigError, match=r"\[supervision\] restart_window"):
        config_from_dict({"supervision": {"restart_window": 0}})


@dataclass
class FakeProcess:
    returncode: int | None = None
    pid: int = 4242

    def poll(self) -> int | None:
        return self.returncode


class FakeManager(Manager):
    """A manager whose `_spawn` makes fake children (the GUI keeper's only way out)."""

    def _spawn(self, name: str) -> None:
        self.spawned.append(name)
        self.children[name] = Child(name, FakeProcess())  # type: ignore[arg-type]

    @property
    def spawned(self) -> list[str]:
        return self.__dict__.setdefault("_spawned", [])  # type: ignore[no-any-return]


def _keeper(port: int, longest: float = 30.0) -> tuple[FakeManager, GuiKeeper]:
    config = replace(load_config(), "gui", port=port)
    manager = FakeManager(config, RunOptions())
    keeper = GuiKeeper(manager, Backoff(longest=longest))
    manager.gui_keeper = keeper
    return manager, keeper


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill_gui(manager: Manager, code: int = -9) -> None:
    manager.children["gui"].process.returncode = code  # type: ignore[misc]


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "GUI" in r.getMessage()]


def test_a_gui_killed_again_and_again_is_restarted_forever_and_logged_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    manager, keeper = _keeper(_free_tcp_port())
    now = 0.0
    keeper.keep(now)
    delays = []
    for _ in range(40):                        # 40 deaths, each 0.5 s after the start
        now += 0.5
        _kill_gui(manager)
        keeper.keep(now)                       # notices the death
        assert "gui" not in manager.children
        delays.append(keeper.next_try - now)
        now = keeper.next_try
        keeper.keep(now)                       # and starts it again when it is time
        assert "gui" in manager.children
    assert delays[:7] == [1, 2, 4, 8, 16, 30, 30]
    assert len(manager.spawned) == 41
    messages = _messages(caplog)
    total = now
    assert 1 <= len(messages) <= total / GUI_REPORT_PERIOD + 1
    assert "the band plays on" in messages[0]
    keeper.summary()
    assert "the GUI died 40 times during the show" in _messages(caplog)[-1]


def test_a_taken_port_is_reported_once_with_the_fix_and_the_gui_comes_when_it_is_free(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]
    manager, keeper = _keeper(port)
    assert port_problem("127.0.0.1", port) == f"127.0.0.1:{port} is in use by another program"
    now = 0.0
    for _ in range(20):
        keeper.keep(now)
        now = keeper.next_try
    assert manager.spawned == []                 # never started onto a taken port
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert f"127.0.0.1:{port} is in use" in errors[0] and "[gui] port" in errors[0]
    assert "--no-gui" in errors[0]
    squatter.close()
    keeper.keep(now)
    assert manager.spawned == ["gui"]
    assert "is free now" in caplog.records[-1].getMessage()


def test_a_gui_that_could_not_bind_is_the_port_report_not_a_crash(
        caplog: pytest.LogCaptureFixture) -> None:
    manager, keeper = _keeper(_free_tcp_port())
    keeper.keep(0.0)
    for at in (1.0, 2.0, 5.0):                   # taken between the check and its bind
        _kill_gui(manager, EXIT_PORT_TAKEN)
        keeper.keep(at)
        keeper.keep(keeper.next_try)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "could not be bound" in errors[0]
    assert keeper.deaths == 0


def test_the_output_of_a_gui_that_keeps_failing_is_held_back(
        capsys: pytest.CaptureFixture[str]) -> None:
    manager, keeper = _keeper(_free_tcp_port())
    now = time.monotonic()                       # output() looks at the clock itself
    keeper.keep(now)
    keeper.output("GUI: http://first")           # the first one is shown
    for _ in range(3):
        now += 0.2
        _kill_gui(manager)
        keeper.keep(now)
        now = keeper.next_try
        keeper.keep(now)
    keeper.output("Traceback: the same again")
    err = capsys.readouterr().err
    assert "GUI: http://first" in err and "the same again" not in err
    assert keeper.dropped_lines == 1


def test_stop_all_ends_children_together_and_kills_what_ignores_sigterm() -> None:
    polite = spawn("polite", ["sleep", "30"])
    stubborn = spawn("stubborn", ["sh", "-c", "trap '' TERM; sleep 30"])
    time.sleep(0.3)                              # the trap is set
    t0 = time.monotonic()
    killed = stop_all([polite, stubborn], grace=0.2)
    assert time.monotonic() - t0 < 1.0
    assert killed == ["stubborn"]
    assert polite.process.returncode == -15 and stubborn.process.returncode == -9


def test_a_relayed_child_says_why_it_died_and_its_output_still_reaches_stderr(
        capfd: pytest.CaptureFixture[str]) -> None:
    script = ("import sys; print('dispatching 3 rings', file=sys.stderr); "
              "raise OSError(98, 'Address already in use')")
    child = spawn("transport", [sys.executable, "-c", script], relay=True)
    child.process.wait(10)
    assert describe_exit(child.process.returncode) == "exit 1"
    assert child.last_words() == "OSError: [Errno 98] Address already in use"
    assert "dispatching 3 rings" in capfd.readouterr().err    # echoed as if inherited


def test_a_caller_stops_listening_to_a_child_by_setting_on_line_to_none() -> None:
    """As `start_jack` does once JACK answers: its later lines (an xrun report each, for
    hours) must not pile up in the start-up list."""
    heard: list[str] = []
    script = ("import sys, time; print('started', flush=True); time.sleep(0.5); "
              "print('xrun', flush=True)")
    child = spawn("chatty", [sys.executable, "-c", script], on_line=heard.append)
    deadline = time.monotonic() + 10
    while not heard and time.monotonic() < deadline:
        time.sleep(0.01)
    child.on_line = None
    child.process.wait(10)
    assert heard == ["started"]
    assert child.last_words() == "xrun"                  # still kept, bounded
