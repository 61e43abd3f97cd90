"""REST handlers against a fake view and control: what they parse, which command they call,
how every error kind is answered (one table), without a broker or a camera."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bridge.api.server import build_app
from bridge.core.errors import Invalid, NotSaved

from .fakes import FakeControl, FakeSnapshot, FakeView, make_config

CAMERAS = {"porch": {"url": "rtsp://viewer:secret@192.0.2.10/stream"}}


@pytest.fixture
def view() -> FakeView:
    return FakeView(make_config(CAMERAS))


@pytest.fixture
def control(view: FakeView) -> FakeControl:
    return FakeControl(view)


@pytest.fixture
async def http(view: FakeView, control: FakeControl) -> AsyncIterator[TestClient]:
    app = build_app(view, control, view.config.api)  # type: ignore[arg-type]
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def test_switching_a_camera_off_calls_the_control_once_and_answers_the_camera(http, control):
    resp = await http.put("/api/cameras/porch/enabled", json={"enabled": False})
    assert resp.status == 200
    body = await resp.json()
    assert body["id"] == "porch" and body["enabled"] is False
    assert body["url"] == "rtsp://viewer:***@192.0.2.10/stream"  # credentials masked
    assert control.calls == [("set_enabled", ("porch", False))]


async def test_a_bad_body_is_refused_before_any_command(http, control):
    resp = await http.put("/api/cameras/porch/enabled", json={"enabled": "no"})
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_parameter"
    assert control.calls == []


async def test_an_unknown_camera_is_404_not_found(http, control):
    resp = await http.put("/api/cameras/garage/enabled", json={"enabled": True})
    assert resp.status == 404
    assert await resp.json() == {"error": "not_found", "message": "no camera garage"}
    assert control.calls == []


async def test_a_switch_the_store_did_not_save_is_503_store_unavailable(http, control):
    control.fail = NotSaved("the switch was not saved: disk I/O error")
    resp = await http.put("/api/cameras/porch/enabled", json={"enabled": False})
    assert resp.status == 503
    assert (await resp.json())["error"] == "store_unavailable"


async def test_invalid_options_are_400_with_every_problem(http, control):
    problems = ["cameras.x.url: expected a URL", "cameras.x.snapshot.quality: value must be at least 1"]
    control.fail = Invalid(problems)
    resp = await http.post("/api/cameras", json={"id": "x"})
    assert resp.status == 400
    assert await resp.json() == {"error": "invalid_config", "message": "; ".join(problems), "errors": problems}


async def test_no_snapshot_yet_is_503_with_the_camera_state(http, view):
    resp = await http.get("/api/cameras/porch/snapshot.jpg")
    assert resp.status == 503
    body = await resp.json()
    assert body["error"] == "no_snapshot" and body["state"] == "connecting"
    view.snapshots["porch"] = FakeSnapshot(b"\xff\xd8\xff\xe0fake-jpeg")
    resp = await http.get("/api/cameras/porch/snapshot.jpg")
    assert resp.status == 200 and await resp.read() == b"\xff\xd8\xff\xe0fake-jpeg"


async def test_snapshot_now_is_one_command(http, control):
    resp = await http.post("/api/cameras/porch/snapshot")
    assert resp.status == 202
    assert control.calls == [("request_snapshot", ("porch",))]


async def test_recording_without_mediamtx_is_409_mediamtx_disabled(http, view, control):
    resp = await http.put("/api/cameras/porch/recording", json={"recording": True})
    assert resp.status == 409
    assert (await resp.json())["error"] == "mediamtx_disabled"
    view.recording_on = {}
    resp = await http.put("/api/cameras/porch/recording", json={"recording": True})
    assert resp.status == 200
    assert await resp.json() == {"camera": "porch", "recording": True, "mediamtx": "available"}
    assert control.calls == [("set_recording", ("porch", True))]


async def test_a_part_not_running_yet_is_503_not_ready(http):
    resp = await http.get("/api/timelapses")
    assert resp.status == 503
    assert (await resp.json())["error"] == "not_ready"


async def test_the_connection_test_validates_then_asks_the_control_and_adds_nothing(http, control):
    control.probe_answer = {"ok": True, "codec": "h264", "width": 640, "height": 360, "fps": 10.0}
    resp = await http.post("/api/cameras/probe", json={"id": "yard", "url": "rtsp://192.0.2.11/stream"})
    assert resp.status == 200
    body = await resp.json()
    assert {k: body[k] for k in ("ok", "codec", "width", "height", "fps")} == control.probe_answer
    assert body["elapsed_s"] >= 0
    assert [name for name, _args in control.calls] == ["check_camera", "probe_camera"]
    control.probe_answer = {"ok": False, "error": "cannot open rtsp://192.0.2.11/stream: connection refused"}
    resp = await http.post("/api/cameras/probe", json={"id": "yard", "url": "rtsp://192.0.2.11/stream"})
    assert resp.status == 200 and (await resp.json())["ok"] is False
