"""supernova's command line as a frozen dataclass: one field per flag, nothing implicit."""

from __future__ import annotations

from dataclasses import dataclass

from performia.config import Config


@dataclass(frozen=True)
class ServerOptions:
    executable: str = "supernova"
    port: int = 57110                 # -u UDP port
    block_size: int = 64              # -z control block
    hardware_buffer_size: int = 64    # -Z must equal the JACK period
    sample_rate: int = 48000          # -S
    threads: int = 2                  # -T audio threads (-t is the TCP port!)
    inputs: int = 2                   # -i
    outputs: int = 2                  # -o
    rt_memory_kb: int = 262144        # -m
    max_nodes: int = 4096             # -n
    max_synthdefs: int = 256          # -d
    audio_buses: int = 1024           # -a
    sample_clock: bool = True         # -C 0: time from the sample count
    jack_server: str = ""             # JACK server to join ("" = default)
    jack_client: str = "performia"    # JACK client name (-H server:client)
    boot_timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Config, hardware_buffer_size: int | None = None) -> ServerOptions:
        s = config.server
        return cls(executable=s.executable, port=s.port, block_size=s.block_size,
                   hardware_buffer_size=hardware_buffer_size or config.jack.period,
                   sample_rate=s.sample_rate, threads=s.threads, inputs=s.inputs,
                   outputs=s.outputs, rt_memory_kb=s.rt_memory_kb, max_nodes=s.max_nodes,
                   max_synthdefs=s.max_synthdefs, audio_buses=s.audio_buses,
                   sample_clock=s.sample_clock, jack_server=config.jack.server_name,
                   boot_timeout=s.boot_timeout)

    @property
    def device_name(self) -> str:
        """supernova's -H for JACK: 'server:client' names both."""
        return f"{self.jack_server or 'default'}:{self.jack_client}"

    def command(self) -> list[str]:
        return [
            self.executable,
            "-u", str(self.port),
            "-H", self.device_name,
            "-z", str(self.block_size),
            "-Z", str(self.hardware_buffer_size),
            "-S", str(self.sample_rate),
            "-T", str(self.threads),
            "-i", str(self.inputs),
            "-o", str(self.outputs),
            "-m", str(self.rt_memory_kb),
            "-n", str(self.max_nodes),
            "-d", str(self.max_synthdefs),
            "-a", str(self.audio_buses),
            "-C", "0" if self.sample_clock else "1",
            "-R", "0",
        ]

    @property
    def shm_name(self) -> str:
        """The server's own shared memory segment (left behind when it is killed)."""
        return f"SuperColliderServer_{self.port}"
