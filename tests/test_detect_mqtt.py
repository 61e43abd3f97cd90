"""Detection on MQTT across restarts: a camera removed from the configuration leaves no retained
detection topic behind, and a retained detect/set command is never acted on."""

from __future__ import annotations

import aiomqtt

from .conftest import make_config, recording, running
from .peers import SHARED, retained

MODEL = str(SHARED / "models" / "yolox_nano.onnx")


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
