"""Keep the CPUs out of deep idle while the band plays: a PM QoS request of 0 µs on
`/dev/cpu_dma_latency`, held as long as the file stays open (the kernel drops the request
when it is closed, also when the process dies).

Why: a real-time thread that sleeps on an idle CPU waits for that CPU to wake up. Measured
here (docs/PERFORMANCE.md): a ring write → read across processes p50 61 µs, p99 116–128 µs
with the CPUs allowed to idle deeply, p50 15–21 µs, p99 53–57 µs with this request held; and
on these VMs, with the band playing, 259–1316 xruns in 20 s without it, 11–19 with it.
The price is power: the CPUs stay in their shallowest idle state (on a
laptop: warmer, shorter on battery) until the band stops. `[timing] keep_cpus_awake`."""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)

PM_QOS_DEVICE = Path("/dev/cpu_dma_latency")


class CpuWakeRequest:
    """`hold()` asks for 0 µs CPU wake-up latency; `release()` (or exit) gives it back."""

    def __init__(self, device: Path = PM_QOS_DEVICE) -> None:
        self.device = device
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def hold(self) -> bool:
        """Make the request; a clear warning and False where it is not permitted."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.device, os.O_WRONLY)
        except OSError as error:
            log.warning("cannot keep the CPUs awake (%s: %s): sleeping real-time threads may "
                        "wake ~50 µs later. Fix: run as root, or let the audio group write it "
                        "(udev rule: KERNEL==\"cpu_dma_latency\", GROUP=\"audio\", "
                        "MODE=\"0660\"), or set [timing] keep_cpus_awake = false",
                        self.device, error.strerror or error)
            return False
        try:
            os.write(fd, struct.pack("i", 0))
        except OSError as error:
            os.close(fd)
            log.warning("cannot keep the CPUs awake: writing %s failed: %s", self.device,
                        error.strerror or error)
            return False
        self._fd = fd
        log.info("CPUs kept out of deep idle while the band plays (%s = 0 µs)", self.device)
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> CpuWakeRequest:
        self.hold()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def wake_request_permitted(device: Path = PM_QOS_DEVICE) -> bool:
    """Whether this user may make the request (the device exists and is writable)."""
    return device.exists() and os.access(device, os.W_OK)
