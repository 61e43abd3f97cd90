"""The bridge as a whole: a crashed loop stops it loudly instead of leaving a part dead."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bridge import app
from bridge.cameras import CameraExists, UnknownCamera
from bridge.mqtt.cameras import CameraMqtt

from ..conftest import make_config


async def test_a_crashing_loop_stops_the_bridge_with_its_error(broker, prefix, monkeypatch):
    config = make_config(broker.port, prefix, {"cam": {"url": "lavfi:testsrc2=size=160x120:rate=5",
                                                        "snapshot": {"interval": 0}}})

    def broken(self, cam_id, snap):
        raise RuntimeError("publisher bug")

    monkeypatch.setattr(CameraMqtt, "publish_snapshot", broken)
    stop = asyncio.Event()
    with pytest.raises(BaseExceptionGroup) as info:
        await asyncio.wait_for(app.run(config, stop), 15)
    assert info.group_contains(RuntimeError, match="publisher bug")


async def test_cameras_added_replaced_and_removed_at_run_time(broker, rtsp, prefix):
    from bridge.config import parse

    from ..conftest import recording, running
    from ..peers import retained

    config = make_config(broker.port, prefix, {"steady": {"url": rtsp.url, "snapshot": {"interval": 0}}})
    extra = parse(f"mqtt: {{host: h}}\ncameras: {{extra: {{url: '{rtsp.url}', name: Extra}}}}", {}).cameras["extra"]
    renamed = parse(f"mqtt: {{host: h}}\ncameras: {{extra: {{url: '{rtsp.url}', name: Porch}}}}", {}).cameras["extra"]
    disc = f"{prefix}_ha/camera/{prefix}/extra/config"
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        await rec.next_on(f"{prefix}/steady/snapshot", 0)
        steady = bridge.cameras["steady"]
        await bridge.add_camera(extra)
        await rec.next_on(f"{prefix}/extra/snapshot", 0)
        added = json.loads((await rec.next_on(disc, 0)).payload)
        assert added["device"]["name"] == "Extra"
        with pytest.raises(CameraExists):
            await bridge.add_camera(extra)

        changed = time.monotonic()
        await bridge.replace_camera(renamed)
        await rec.wait(lambda: [m for m in rec.on(disc, changed)
                                if m.payload and json.loads(m.payload)["device"]["name"] == "Porch"], 10, "new name")
        await rec.next_on(f"{prefix}/extra/snapshot", changed)

        await bridge.remove_camera("extra")
        with pytest.raises(UnknownCamera):
            await bridge.remove_camera("extra")
        for _ in range(20):
            found = await retained(broker.port, [f"{prefix}/#", f"{prefix}_ha/#"], settle=0.3)
            if not [t for t in found if "/extra" in t]:
                break
        assert not [t for t in found if "/extra" in t], "the removed camera left retained topics"
        assert bridge.cameras["steady"] is steady and steady.status.reconnects == 0
        assert "extra" not in json.loads(found[f"{prefix}/bridge/state"])["cameras"]
        events = [e.type for e in bridge.events.since(0)[0]]
    assert "camera.removed" in events and "camera.status" in events


async def test_bridge_runs_without_its_api(broker, prefix):
    from ..conftest import recording, running

    config = make_config(broker.port, prefix, {"cam": {"url": "lavfi:testsrc2=size=160x120:rate=5"}},
                         api={"enabled": False})
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        await rec.next_on(f"{prefix}/cam/snapshot", 0)
        assert bridge.api is None
