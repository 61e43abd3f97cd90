"""The one backoff (bridge/backoff.py: cameras, MQTT, MediaMTX's breaker) and the one warn-once
log (bridge/faults.py: MediaMTX's health check, the cluster member, the reloader)."""

from __future__ import annotations

import logging

from bridge.backoff import jittered_backoff
from bridge.faults import WarnOnce


def test_backoff_doubles_is_capped_and_jittered_within_bounds():
    assert [jittered_backoff(n, 1.0, 30.0, rand=lambda: 0.5) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert jittered_backoff(0, 1.0, 30.0, 0.2, rand=lambda: 0.0) == 0.8
    assert jittered_backoff(0, 1.0, 30.0, 0.2, rand=lambda: 0.0, floor=1.0) == 1.0
    assert jittered_backoff(99, 1.0, 30.0, 0.2, rand=lambda: 1.0) == 30.0  # capped even with jitter


def test_a_repeating_fault_is_warned_once_then_debug_and_its_recovery_once(caplog):
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("test.faults")
    fault = WarnOnce(log)
    for i in range(3):
        fault.failed("peer away: %s", i)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "peer away: 0"), (logging.DEBUG, "peer away: 1"), (logging.DEBUG, "peer away: 2")]
    caplog.clear()
    assert fault.cleared("peer back") and not fault.cleared("peer back")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.INFO, "peer back")]
    fault.failed("peer away again")
    assert caplog.records[-1].levelno == logging.WARNING
