"""The CPU wake-up latency request: held while the band plays, given back after; a clear
warning (and the band plays) where it is not permitted."""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import pytest

from performia.cpu_wake import PM_QOS_DEVICE, CpuWakeRequest


def _current() -> int:
    with PM_QOS_DEVICE.open("rb") as device:
        return int(struct.unpack("i", device.read(4))[0])


@pytest.mark.skipif(not os.access(PM_QOS_DEVICE, os.R_OK | os.W_OK),
                    reason="needs a readable and writable /dev/cpu_dma_latency (root)")
def test_the_request_holds_zero_until_released() -> None:
    before = _current()
    with CpuWakeRequest() as request:
        assert request.held
        assert _current() == 0
    assert not request.held
    assert _current() == before


def test_a_device_we_may_not_write_is_a_warning_not_a_failure(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="performia.cpu_wake")
    request = CpuWakeRequest(tmp_path / "no-such-device")
    assert request.hold() is False
    assert not request.held
    assert "cannot keep the CPUs awake" in caplog.text
    assert "keep_cpus_awake = false" in caplog.text
    request.release()                                     # nothing held: nothing to do
