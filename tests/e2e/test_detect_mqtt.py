"""Detection on MQTT across restarts: a camera removed from the configuration leaves no retained
detection topic behind, and a retained detect/set command is never acted on."""

from __future__ import annotations

import aiomqtt

from ..conftest import make_config, recording, running
from ..peers import SHARED, retained

MODEL = str(SHARED / "models" / "yolox_nano.onnx")
DEAD_URL = "rtsp://127.0.0.1:9/none"  #: nothing listens: the camera backs off


async def test_removed_detection_camera_is_cleared_at_start(broker, rtsp, prefix):
    detect = {"enabled": True, "model": MODEL, "objects": ["person", "car"]}
    both = make_config(broker.port, prefix, {"keep": {"url": rtsp.url},
                                              "gone": {"url": rtsp.url, "detect": detect}})
    async with recording(broker.port, prefix) as rec, running(both):
        await rec.wait(lambda: rec.on(f"{prefix}/gone/person/snapshot"), 30, "a person snapshot")
    before = await retained(broker.port, [f"{prefix}/gone/#"])
    assert {f"{prefix}/gone/person", f"{prefix}/gone/car", f"{prefix}/gone/person/snapshot",
            f"{prefix}/gone/motion", f"{prefix}/gone/detect/state"} <= set(before)
    config = make_config(broker.port, prefix, {"keep": {"url": rtsp.url}})
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: [m for m in rec.on(f"{prefix}/gone/person/snapshot") if not m.payload], 10,
                       "the removed camera's person snapshot cleared")
        for _ in range(10):  # some 40 stale configs and topics are cleared one by one
            found = await retained(broker.port, [f"{prefix}_ha/#", f"{prefix}/#"])
            if not [t for t in found if "gone" in t]:
                break
    assert not [t for t in found if "gone" in t], "stale retained topics of the removed camera"
    assert f"{prefix}/keep/status" in found


async def test_retained_detect_command_is_ignored(broker, rtsp, prefix):
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.publish(f"{prefix}/cam/detect/set", b"OFF", retain=True, qos=1)
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "detect": {"enabled": True}}})
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        await rec.wait(lambda: bridge.detectors["cam"].stats.frames >= 5, 15, "detection running")
        assert bridge.detectors["cam"].enabled
        assert [m.payload for m in rec.on(f"{prefix}/cam/detect/state")] == [b"ON"]
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:  # clean the broker
        await client.publish(f"{prefix}/cam/detect/set", b"", retain=True)


async def test_stored_camera_whose_model_went_away_streams_without_detection(broker, rtsp, prefix, tmp_path, caplog):
    """A camera added through the API is stored with its model path; if the file is gone at
    the next start, the camera still streams, without detection, and the log says why."""
    import shutil

    from bridge.config import camera_data, camera_from_data

    model = tmp_path / "model.onnx"
    shutil.copy(MODEL, model)
    camera = camera_from_data("porch", {"url": rtsp.url, "detect": {"enabled": True, "model": str(model)}})
    data_dir = tmp_path / "data"
    config = make_config(broker.port, prefix, {"keep": {"url": rtsp.url}}, data_dir=data_dir)
    async with running(config) as bridge:
        await bridge.registry.add({"id": "porch", **camera_data(camera)})
        assert "porch" in bridge.detectors
    model.unlink()
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        await rec.wait(lambda: rec.on(f"{prefix}/porch/snapshot"), 15, "the camera streams")
        assert "porch" not in bridge.detectors
    assert any("camera porch: detection off" in r.message and str(model) in r.message for r in caplog.records)


async def test_detection_switch_survives_a_restart(broker, rtsp, prefix, tmp_path):
    """``detect/set OFF`` is saved: after a restart the camera's detection is still off (state
    ``OFF``, no frame decoded for it), for a YAML camera and an API camera (also when the API
    camera is changed and restarts); ``ON`` is saved the same way."""
    data_dir = tmp_path / "data"
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "detect": {"enabled": True}}},
                         data_dir=data_dir)
    async with recording(broker.port, prefix) as rec, running(config) as bridge, \
            aiomqtt.Client("127.0.0.1", broker.port) as client:
        await bridge.registry.add({"id": "api_cam", "url": DEAD_URL, "detect": {"enabled": True}})
        for cam_id in ("cam", "api_cam"):
            await client.publish(f"{prefix}/{cam_id}/detect/set", b"OFF", qos=1)
            await rec.wait(lambda cam_id=cam_id: [m for m in rec.on(f"{prefix}/{cam_id}/detect/state")
                                                  if m.payload == b"OFF"], 10, f"{cam_id} switched off")
        await bridge.registry.update("api_cam", {"open_timeout": 2})  # restarts only that camera
        assert not bridge.detectors["api_cam"].enabled

    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        assert not bridge.detectors["cam"].enabled and not bridge.detectors["api_cam"].enabled
        await rec.wait(lambda: bridge.cameras["cam"].status.keyframes >= 2, 15, "the camera streams")
        await rec.wait(lambda: len(rec.on(f"{prefix}/api_cam/detect/state")) >= 2, 10, "state published")
        for cam_id in ("cam", "api_cam"):
            assert {m.payload for m in rec.on(f"{prefix}/{cam_id}/detect/state")} == {b"OFF"}
        assert bridge.detectors["cam"].stats.frames == 0  # nothing decoded for detection
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(f"{prefix}/cam/detect/set", b"ON", qos=1)
            await rec.wait(lambda: bridge.detectors["cam"].stats.frames >= 3, 15, "detection back on")

    async with running(config) as bridge:
        assert bridge.detectors["cam"].enabled and not bridge.detectors["api_cam"].enabled
        await bridge.registry.remove("api_cam")  # forgotten with the camera: a new one starts on
        await bridge.registry.add({"id": "api_cam", "url": DEAD_URL, "detect": {"enabled": True}})
        assert bridge.detectors["api_cam"].enabled
