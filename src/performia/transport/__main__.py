"""The transport process (high priority): rings + OSC fallback → dispatcher → supernova.

Run by the manager as `python -m performia.transport '<plan json>'`.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

from performia.events.health import HealthCounter
from performia.events.note import NoteEvent
from performia.events.ring import RingReader, attach
from performia.plan import PerformancePlan
from performia.transport.dispatcher import Dispatcher, Source
from performia.transport.event_log import EventLog
from performia.transport.osc_input import OscInput

log = logging.getLogger("performia.transport")

TRANSPORT_PRIORITY = 62


def main(argv: list[str] | None = None) -> int:
    plan = PerformancePlan.for_child("transport", TRANSPORT_PRIORITY, argv)
    config = plan.config
    event_log = EventLog(plan.events_path, plan.start_time) if plan.events_path else None
    dispatcher = Dispatcher(("127.0.0.1", config.server.port),
                            sink=event_log.add if event_log else None)
    for ring in plan.rings:
        dispatcher.add_ring(ring.agent, RingReader(attach(ring.shm_name), ring.doorbell))
    fallback_sources: dict[int, Source] = {}

    def from_osc(event: NoteEvent) -> None:
        source = fallback_sources.get(event.agent)
        if source is None:
            source = fallback_sources[event.agent] = dispatcher.add_source(
                f"osc:{event.agent_name}")
        dispatcher.send(event, source)

    osc_input = open_fallback(plan, from_osc)
    refused = HealthCounter(plan.health_name, "osc_refused") if plan.health_name else None

    def on_osc() -> None:
        if osc_input is None:
            return
        osc_input.handle_ready()
        if refused is not None:     # for the GUI snapshot: one aligned store
            refused.set(osc_input.stats.rejected + dispatcher.stats.bad_events)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: dispatcher.stop())
    log.info("dispatching %d rings; OSC fallback %s", len(plan.rings),
             "off" if osc_input is None else f"on {config.osc.host}:{config.osc.event_port}")
    try:
        dispatcher.run(extra_fds={} if osc_input is None else {osc_input.fileno(): on_osc})
    finally:
        if osc_input is not None:
            osc_input.close()
        if refused is not None:
            refused.close()
        dispatcher.close()
        for source in dispatcher.sources:
            if source.reader is not None:
                source.reader.close()
                source.reader.shm.close()
        if event_log is not None:
            event_log.close()
    log.info("sent %d events (%d reactive), %d released early, %d bad",
             dispatcher.stats.sent, dispatcher.stats.reactive, dispatcher.stats.released_early,
             dispatcher.stats.bad_events)
    if osc_input is not None:
        log.info("%s; %d notes accepted", osc_input.stats.rejects.summary(),
                 osc_input.stats.accepted)
    log.info("%s", dispatcher.stats.rejects.summary())
    return 0


def open_fallback(plan: PerformancePlan, deliver: Callable[[NoteEvent], None]
                  ) -> OscInput | None:
    """The OSC fallback's socket, or None when its port cannot be had: the rings are the
    band's path, so a taken fallback port costs the fallback, never the show."""
    osc = plan.config.osc
    try:
        return OscInput(osc.host, osc.event_port, deliver,
                        latency=plan.config.timing.latency_ms / 1000.0,
                        horizon=osc.timetag_horizon, late_limit=osc.late_limit,
                        rate=osc.rate_limit)
    except OSError as error:
        log.error("the OSC fallback cannot listen on %s:%d (%s): notes sent there go unheard, "
                  "the agents' rings play on. Fix: free the port, or set [osc] event_port",
                  osc.host, osc.event_port, error.strerror or error)
        return None


if __name__ == "__main__":
    raise SystemExit(main())
