"""The page in real headless Chromium, showing a real band: `python -m performia --realtime`
with its GUI, on this run's own JACK server and ports."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from performia.config import PROJECT_ROOT
from tests.conftest import PROJECT, RUN_ID, make_config, write_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [pytest.mark.server,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")]


def _wait_for_page(url: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/health", timeout=1.0).json().get("version", 0) > 0:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise AssertionError("the band's page did not come up")


def test_the_page_follows_a_playing_band(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    config = make_config(RUN_ID + "gui")
    config_file = write_config(tmp_path / "performia.toml", config)
    url = f"http://{config.gui.host}:{config.gui.port}"
    band = subprocess.Popen([sys.executable, "-m", "performia", "--realtime", "--config",
                             str(config_file)], cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_page(url)
        state = httpx.get(url + "/api/state", timeout=2.0).json()
        assert state["transport"]["bpm"] == config.timing.tempo
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url + "/")
            page.wait_for_function("document.body.className === ''", timeout=15000)
            first = page.inner_text("#barbeat")
            page.wait_for_function(
                f"document.querySelector('#barbeat').textContent !== {first!r}", timeout=10000)
            page.wait_for_function(
                "document.querySelector('#band-chord').textContent !== '—'", timeout=10000)
            page.wait_for_timeout(3000)                 # let the lanes fill with real notes
            chord = page.inner_text("#band-chord")
            rate = int(page.inner_text("#rate"))
            shot = tmp_path / "live-band.png"
            page.screenshot(path=str(shot))
            if "PERFORMIA_SAVE_SCREENSHOT" in __import__("os").environ:
                page.screenshot(path=str(PROJECT_ROOT / "docs" / "gui-live-band.png"))
            browser.close()
        assert chord.strip() not in ("", "—")          # the chord the band plays now
        assert rate >= 28                               # ~30 updates a second reach the page
        assert shot.stat().st_size > 10_000
        state = httpx.get(url + "/api/state", timeout=2.0).json()
        assert any(state["agents"][a]["notes"] for a in ("drums", "bass", "harmony"))
        heard, form = state["heard"], state["form"]    # what is heard, and the form
        assert {"chord", "confidence", "bpm", "beats", "beat_in_bar"} <= set(heard)
        assert {"bar", "bars", "current", "prediction", "next", "sections"} <= set(form)
        assert heard["chord"] is None or isinstance(heard["chord"], str)
        assert isinstance(form["bars"], list) and isinstance(heard["beats"], list)
    finally:
        band.send_signal(signal.SIGINT)
        output, _ = band.communicate(timeout=30)
    assert band.returncode == 0, output[-3000:]
