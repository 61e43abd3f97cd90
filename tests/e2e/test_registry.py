"""The camera registry and detection: cameras added at run time (REST, JSON-RPC) take the file's
``detect:`` section as defaults exactly like YAML cameras, keep following it across restarts,
and their detection model is loaded off the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import aiohttp

from ..conftest import make_config, running
from ..peers import SHARED
from .test_api_cameras import base_url

MODEL = str(SHARED / "models" / "yolox_nano.onnx")
DEAD_URL = "rtsp://127.0.0.1:9/none"  #: nothing listens: the camera backs off, detection idles

GLOBAL = {"fps": 2, "objects": {"person": {"threshold": 0.7}, "car": {}}, "min_score": 0.45,
          "zones": {"path": [[0, 0.5], [1, 0.5], [1, 1]]}, "motion": {"off_delay": 2, "min_area": 60}}


async def test_api_cameras_inherit_the_global_detect_section(broker, prefix, tmp_path: Path):
    data_dir = tmp_path / "data"
    config = make_config(broker.port, prefix, {"yaml_cam": {"url": DEAD_URL, "detect": {"enabled": True}}},
                         data_dir=data_dir, detect=GLOBAL)
    body = {"url": DEAD_URL, "open_timeout": 1, "detect": {"enabled": True, "motion": {"min_area": 80}}}
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        resp = await http.post("/api/cameras", json={"id": "rest_cam", **body})
        assert resp.status == 201, await resp.text()
        view = (await resp.json())["detect"]
        ws = await http.ws_connect("/ws")
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "cameras.add",
                            "params": {"id": "rpc_cam", **body}})
        answer = await ws.receive_json(timeout=10)
        assert "result" in answer, answer
        await ws.close()
        yaml_detect = bridge.cameras["yaml_cam"].config.detect
        for cam_id in ("rest_cam", "rpc_cam"):
            detect = bridge.cameras[cam_id].config.detect
            assert detect.enabled and cam_id in bridge.detectors
            # global -> camera, as for the YAML camera: the file's values, the camera's own on top
            assert (detect.fps, detect.min_score, detect.objects, detect.zones) == \
                (yaml_detect.fps, yaml_detect.min_score, yaml_detect.objects, yaml_detect.zones)
            assert detect.threshold_for("person") == 0.7 and set(detect.objects) == {"person", "car"}
            assert (detect.motion.off_delay, detect.motion.min_area) == (2, 80)
        assert (view["fps"], view["min_score"], view["motion"]["min_area"]) == (2, 0.45, 80)

    # the stored cameras keep only their own options: at the next start they follow the file
    changed = make_config(broker.port, prefix, {}, data_dir=data_dir, detect={**GLOBAL, "fps": 3})
    async with running(changed) as bridge:
        for cam_id in ("rest_cam", "rpc_cam"):
            detect = bridge.cameras[cam_id].config.detect
            assert (detect.fps, detect.motion.off_delay, detect.motion.min_area) == (3, 2, 80)
        # a change keeps the camera's own detection options and the inheritance
        updated = await bridge.registry.update("rest_cam", {"open_timeout": 2})
        assert (updated.detect.fps, updated.detect.motion.min_area, updated.open_timeout) == (3, 80, 2)
        updated = await bridge.registry.update("rest_cam", {"detect": {"enabled": True, "fps": 1}})
        assert (updated.detect.fps, updated.detect.motion.min_area, updated.detect.min_score) == (1, 60, 0.45)


async def test_an_api_camera_model_is_loaded_off_the_event_loop(broker, prefix, monkeypatch):
    """Checking an added camera's ONNX model (~0.1 s) must not stall the event loop."""
    from bridge.detect import detector

    real_load = detector.load
    where: list[str] = []

    def spy(config, **kwargs):
        try:
            asyncio.get_running_loop()
            where.append("event loop")
        except RuntimeError:
            where.append(threading.current_thread().name)
        return real_load(config, **kwargs)

    monkeypatch.setattr(detector, "load", spy)
    config = make_config(broker.port, prefix, {})
    async with running(config) as bridge:
        camera = await bridge.registry.add({"id": "porch", "url": DEAD_URL,
                                            "detect": {"enabled": True, "model": MODEL}})
        assert camera.detect.kind == "onnx" and "porch" in bridge.detectors
        await bridge.registry.update("porch", {"open_timeout": 2})
    assert len(where) >= 2 and "event loop" not in where, where
