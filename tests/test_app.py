"""The bridge as a whole: a crashed loop stops it loudly instead of leaving a part dead."""

from __future__ import annotations

import asyncio

import pytest

from bridge import app

from .conftest import make_config


async def test_a_crashing_loop_stops_the_bridge_with_its_error(broker, prefix, monkeypatch):
    config = make_config(broker.port, prefix, {"cam": {"url": "lavfi:testsrc2=size=160x120:rate=5",
                                                        "snapshot": {"interval": 0}}})

    def broken(self, cam_id, snap):
        raise RuntimeError("publisher bug")

    monkeypatch.setattr(app.MqttPublisher, "on_snapshot", broken)
    stop = asyncio.Event()
    with pytest.raises(BaseExceptionGroup) as info:
        await asyncio.wait_for(app.run(config, stop), 15)
    assert info.group_contains(RuntimeError, match="publisher bug")
