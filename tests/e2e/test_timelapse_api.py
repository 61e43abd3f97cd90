"""Timelapses through the API, JSON-RPC and MQTT against a real bridge (lavfi camera, real
broker, real ffmpeg): CRUD with effective settings and their source, lifecycle actions, paged
frames, videos with HTTP range requests, thumbnails, traversal attempts (404), the disk guard
with a simulated full disk, render progress events, MQTT commands and HA discovery."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiomqtt
import cv2
import numpy as np
import pytest

from bridge.app import Bridge

from ..conftest import make_config, recording, running

LAVFI = "lavfi:testsrc2=size=320x240:rate=5"


def url(bridge: Bridge, path: str) -> str:
    assert bridge.api is not None
    return f"http://127.0.0.1:{bridge.api.port}{path}"


@contextlib.asynccontextmanager
async def bridge_with(broker, prefix, **top: Any) -> AsyncIterator[tuple[Bridge, aiohttp.ClientSession]]:
    config = make_config(broker.port, prefix, {"cam": {"url": LAVFI, "timelapse": {"crf": 30}}},
                         sections={"timelapse": {"fps": 10, "min_free_mb": 1}, **top})
    async with running(config) as bridge, aiohttp.ClientSession() as http:
        yield bridge, http


async def wait_until(predicate, timeout: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def call(http: aiohttp.ClientSession, method: str, address: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, address, **kwargs) as resp:
        body = await resp.read()
        if resp.content_type == "application/json":
            return resp.status, json.loads(body)
        return resp.status, body


async def test_crud_settings_sources_and_lifecycle(broker, prefix):
    yaml_tl = {"timelapses": {"yaml_tl": {"camera": "cam", "interval": 3600, "autostart": False}}}
    async with bridge_with(broker, prefix, **yaml_tl) as (bridge, http):
        status, created = await call(http, "POST", url(bridge, "/api/timelapses"), json={
            "name": "Print job", "camera": "cam", "interval": 1, "width": 160, "end_frames": 50})
        assert status == 201, created
        assert created["id"] == "print_job" and created["origin"] == "api"
        assert created["state"] == "running"
        settings = created["settings"]
        assert settings["interval"] == {"value": 1.0, "source": "timelapse"}
        assert settings["crf"] == {"value": 30, "source": "camera"}
        assert settings["fps"] == {"value": 10, "source": "global"}
        assert settings["jpeg_quality"] == {"value": 90, "source": "default"}

        # bad input: key paths, unknown camera, duplicate id, YAML read-only, bad JSON
        status, err = await call(http, "POST", url(bridge, "/api/timelapses"),
                                 json={"id": "x", "camera": "nope", "fps": 0})
        assert status == 400 and err["error"] == "invalid_config"
        assert "timelapses.x.fps: expected an integer from 1 to 120, or null, got 0" in err["errors"]
        status, err = await call(http, "POST", url(bridge, "/api/timelapses"), json={"id": "x", "camera": "nope"})
        assert status == 400 and err["errors"] == ["timelapses.x.camera: no camera 'nope'"]
        status, err = await call(http, "POST", url(bridge, "/api/timelapses"),
                                 json={"id": "print_job", "camera": "cam"})
        assert status == 409
        status, err = await call(http, "PATCH", url(bridge, "/api/timelapses/yaml_tl"), json={"fps": 5})
        assert status == 409 and "YAML" in err["message"]
        status, err = await call(http, "POST", url(bridge, "/api/timelapses"), data=b"{nope",
                                 headers={"Content-Type": "application/json"})
        assert status == 400 and err["error"] == "invalid_json"

        # lifecycle through REST: created -> running <-> paused -> stopped, wrong moves are 409
        action = "/api/timelapses/yaml_tl/actions/{}"
        status, err = await call(http, "POST", url(bridge, action.format("pause")))
        assert status == 409 and "it is created" in err["message"]
        for name, state in (("start", "running"), ("pause", "paused"), ("resume", "running"),
                            ("stop", "stopped")):
            status, body = await call(http, "POST", url(bridge, action.format(name)))
            assert (status, body["state"]) == (200, state), body
        assert (await call(http, "POST", url(bridge, action.format("resume"))))[0] == 409
        assert (await call(http, "POST", url(bridge, action.format("explode"))))[0] == 404

        # PATCH (null = inherit again), list, then DELETE removes it with its files
        await wait_until(lambda: bridge.timelapses.get("print_job").frames >= 2, what="2 frames")
        status, body = await call(http, "PATCH", url(bridge, "/api/timelapses/print_job"),
                                  json={"width": None, "crf": 20})
        assert status == 200 and body["settings"]["width"]["source"] == "default"
        assert body["settings"]["crf"] == {"value": 20, "source": "timelapse"}
        status, listed = await call(http, "GET", url(bridge, "/api/timelapses"))
        assert {t["id"] for t in listed["timelapses"]} == {"yaml_tl", "print_job"}
        folder = bridge.timelapses.root / "print_job"
        assert folder.is_dir()
        assert (await call(http, "DELETE", url(bridge, "/api/timelapses/print_job")))[0] == 204
        assert not folder.exists()
        assert (await call(http, "GET", url(bridge, "/api/timelapses/print_job")))[0] == 404
        assert (await call(http, "DELETE", url(bridge, "/api/timelapses/yaml_tl")))[0] == 409


async def test_an_api_timelapse_survives_a_restart_and_resumes(broker, prefix, tmp_path):
    config = make_config(broker.port, prefix, {"cam": {"url": LAVFI}}, data_dir=tmp_path)
    async with running(config) as bridge, aiohttp.ClientSession() as http:
        status, _ = await call(http, "POST", url(bridge, "/api/timelapses"),
                               json={"id": "kept", "camera": "cam", "interval": 1})
        assert status == 201
        await wait_until(lambda: bridge.timelapses.get("kept").frames >= 2, what="2 frames")
        status, _ = await call(http, "POST", url(bridge, "/api/timelapses"),
                               json={"id": "paused_one", "camera": "cam", "interval": 1})
        await call(http, "POST", url(bridge, "/api/timelapses/paused_one/actions/pause"))
    async with running(config) as bridge:
        kept, paused = bridge.timelapses.get("kept"), bridge.timelapses.get("paused_one")
        assert kept.origin == "api" and str(kept.state) == "running" and kept.frames >= 2
        assert str(paused.state) == "paused"
        before = kept.frames
        await wait_until(lambda: kept.frames > before, what="capture to resume")


async def test_frames_videos_ranges_thumbnails_and_traversal(broker, prefix):
    top = {"timelapses": {"tl": {"camera": "cam", "interval": 1, "keep_videos": 1}}}
    async with bridge_with(broker, prefix, **top) as (bridge, http):
        manager = bridge.timelapses
        rt = manager.get("tl")
        await wait_until(lambda: rt.frames >= 4, what="4 frames")
        status, page = await call(http, "GET", url(bridge, "/api/timelapses/tl/frames?offset=1&limit=2"))
        assert status == 200 and page["total"] >= 4 and len(page["frames"]) == 2
        frame = page["frames"][0]
        status, all_frames = await call(http, "GET", url(bridge, "/api/timelapses/tl/frames"))
        assert frame == all_frames["frames"][1]
        assert frame["width"] == 320 and frame["score"] == 1.0
        status, jpeg = await call(http, "GET", url(bridge, frame["url"]))
        assert status == 200 and cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (240, 320, 3)
        assert (await call(http, "GET", url(bridge, "/api/timelapses/tl/frames?limit=0")))[0] == 400
        status, thumb = await call(http, "GET", url(bridge, "/api/timelapses/tl/thumbnail.jpg"))
        assert status == 200 and cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR).shape[1] == 320

        events = bridge.events.subscribe(["timelapse.render"])
        status, body = await call(http, "POST", url(bridge, "/api/timelapses/tl/actions/render"))
        assert status == 202 and body["render"]["state"] == "running"
        assert (await call(http, "POST", url(bridge, "/api/timelapses/tl/actions/render")))[0] == 409
        progress = []
        while not progress or progress[-1]["state"] == "running":
            progress.append((await asyncio.wait_for(events.queue.get(), 30)).data)
        assert progress[-1]["state"] == "done" and progress[-1]["percent"] == 100.0
        assert progress[-1]["frames"] == progress[-1]["total"] and progress[-1]["eta_s"] == 0.0
        percents = [p["percent"] for p in progress]
        assert percents == sorted(percents)
        assert all(p < 100 for p in percents[:-1]), f"100 % before done: {progress}"

        status, videos = await call(http, "GET", url(bridge, "/api/timelapses/tl/videos"))
        video = videos["videos"][0]
        assert video["frames"] == progress[-1]["total"] and video["fps"] == 10
        async with http.get(url(bridge, video["url"])) as resp:
            whole = await resp.read()
            assert resp.status == 200 and resp.content_type == "video/mp4"
            assert resp.headers["Accept-Ranges"] == "bytes"
        async with http.get(url(bridge, video["url"]), headers={"Range": "bytes=4-11"}) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Range"] == f"bytes 4-11/{len(whole)}"
            assert await resp.read() == whole[4:12] == b"ftypisom"
        status, vthumb = await call(http, "GET", url(bridge, video["thumbnail_url"]))
        assert status == 200 and vthumb[:2] == b"\xff\xd8"

        # keep_videos: 1 -> a second render replaces the first video
        manager.start_render("tl", "manual")
        await rt.render_task
        status, videos = await call(http, "GET", url(bridge, "/api/timelapses/tl/videos"))
        assert [v["id"] for v in videos["videos"]] == [video["id"] + 1]
        assert (await call(http, "GET", url(bridge, video["url"])))[0] == 404

        # files by id only: traversal and made-up names are unknown ids
        secret = manager.root.parent / "bridge.db"
        assert secret.exists()
        for path in ("/api/timelapses/tl/frames/..%2F..%2Fbridge.db",
                     "/api/timelapses/tl/frames/../../../bridge.db",
                     "/api/timelapses/tl/videos/..%2f..%2fbridge.db",
                     "/api/timelapses/tl/videos/1%2F..%2F..%2Fbridge.db/thumbnail.jpg",
                     "/api/timelapses/..%2Ftl/frames",
                     "/api/timelapses/tl/frames/1.jpg",
                     "/api/timelapses/tl/frames/%2e%2e",
                     "/api/timelapses/tl/frames/999999",
                     f"/api/timelapses/tl/frames/{frame['id']}%00",
                     "/api/timelapses/tl/videos/-1"):
            async with http.get(url(bridge, path)) as resp:
                body = await resp.read()
                assert resp.status == 404, (path, resp.status)
                assert b"SQLite" not in body


async def test_disk_guard_holds_capture_with_a_reason_and_resumes(broker, prefix):
    top = {"timelapses": {"tl": {"camera": "cam", "interval": 1}}}
    async with bridge_with(broker, prefix, **top) as (bridge, http):
        manager = bridge.timelapses
        rt = manager.get("tl")
        await wait_until(lambda: rt.frames >= 1, what="a frame")
        free = {"bytes": 200 * 1024}  # 0.2 MiB: below min_free_mb (1 MiB)
        manager.free = lambda _path: free["bytes"]
        await wait_until(lambda: str(rt.state) == "error", what="state error")
        status, body = await call(http, "GET", url(bridge, "/api/timelapses/tl"))
        assert body["state"] == "error" and body["reason"].startswith("low disk space: 0 MiB free")
        held = rt.frames
        await asyncio.sleep(2.5)
        assert rt.frames == held  # nothing written while the disk is full
        names = {p.name for p in (manager.root / "tl").rglob("*")}
        assert not [n for n in names if n.startswith(".")], "half-written files"
        status, err = await call(http, "POST", url(bridge, "/api/timelapses/tl/actions/render"))
        assert status == 409 and "cannot render now: low disk space" in err["message"]
        free["bytes"] = 10**12
        await wait_until(lambda: rt.frames > held and str(rt.state) == "running", what="capture to resume")
        assert rt.reason is None


async def test_json_rpc_methods(broker, prefix):
    top = {"timelapses": {"tl": {"camera": "cam", "interval": 1}}}
    async with bridge_with(broker, prefix, **top) as (bridge, http):
        async with http.ws_connect(url(bridge, "/ws")) as ws:
            async def rpc(method: str, **params: Any) -> dict:
                await ws.send_json({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
                return await ws.receive_json(timeout=10)

            listed = await rpc("timelapses.list")
            assert [t["id"] for t in listed["result"]["timelapses"]] == ["tl"]
            paused = await rpc("timelapses.action", id="tl", action="pause")
            assert paused["result"]["state"] == "paused"
            again = await rpc("timelapses.action", id="tl", action="pause")
            assert again["error"]["code"] == -32002 and again["error"]["data"]["error"] == "conflict"
            bad = await rpc("timelapses.action", id="tl", action="explode")
            assert bad["error"]["code"] == -32602
            missing = await rpc("timelapses.get", id="nope")
            assert missing["error"]["code"] == -32001
            invalid = await rpc("timelapses.add", id="x", camera="cam", interval=0)
            assert invalid["error"]["code"] == -32003
            assert ("timelapses.x.interval: expected a number from 1 to 86400, or null, got 0"
                    in invalid["error"]["data"]["errors"])
            frames = await rpc("timelapses.frames", id="tl", limit=1)
            assert frames["result"]["limit"] == 1 and len(frames["result"]["frames"]) <= 1

            # render progress as JSON-RPC event notifications
            assert (await rpc("timelapses.action", id="tl", action="resume"))["result"]["state"] == "running"
            await wait_until(lambda: bridge.timelapses.get("tl").frames >= 1, what="a frame")
            subscribed = await rpc("events.subscribe", types=["timelapse.render"])
            assert "subscription" in subscribed["result"]
            started = await rpc("timelapses.action", id="tl", action="render")
            assert started["result"]["render"]["state"] == "running"
            notes = []
            while not notes or notes[-1]["state"] == "running":
                message = await ws.receive_json(timeout=30)
                if message.get("method") == "event":
                    notes.append(message["params"]["data"])
            assert notes[-1]["state"] == "done" and notes[-1]["percent"] == 100.0
            videos = await rpc("timelapses.videos", id="tl")
            assert videos["result"]["videos"][0]["id"] == notes[-1]["video"]


async def test_daily_render_with_an_injected_clock(broker, prefix, monkeypatch):
    from bridge.timelapse import manager as manager_module

    monkeypatch.setattr(manager_module, "HOUSEKEEPING", 0.1)
    top = {"timelapse": {"timezone": "UTC"},
           "timelapses": {"tl": {"camera": "cam", "interval": 1, "render_at": "23:30"}}}
    async with bridge_with(broker, prefix, **top) as (bridge, _http):
        manager = bridge.timelapses
        rt = manager.get("tl")
        now = {"t": 1_782_084_000.0}  # 2026-06-21 23:20 UTC
        manager.clock = lambda: now["t"]
        rt.next_daily = None  # computed again on the injected clock
        await wait_until(lambda: rt.frames >= 1 and rt.next_daily is not None, what="a frame, the daily time")
        assert rt.next_daily == 1_782_084_600.0  # 23:30 that day
        await asyncio.sleep(0.3)
        assert rt.render is None  # not yet
        now["t"] = 1_782_084_601.0
        await wait_until(lambda: rt.render is not None and rt.render["state"] == "done", 30, "daily render")
        assert rt.render["trigger"] == "daily"
        assert rt.next_daily == 1_782_084_600.0 + 86400


async def test_mqtt_commands_discovery_and_state(broker, prefix):
    top = {"timelapses": {"garden": {"camera": "cam", "interval": 1, "name": "Garden daily"}}}
    command = f"{prefix}/timelapse/garden/set"
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:  # a stale retained command
        await client.publish(command, "stop", qos=1, retain=True)
    async with recording(broker.port, prefix) as rec, bridge_with(broker, prefix, **top) as (bridge, _http):
        rt = bridge.timelapses.get("garden")
        config_topic = f"{prefix}_ha/switch/{prefix}/timelapse_garden_running/config"
        switch = json.loads((await rec.next_on(config_topic, 0)).payload)
        assert switch["device"]["via_device"] == f"{prefix}_cam"
        assert switch["device"]["identifiers"] == [f"{prefix}_timelapse.garden"]
        assert switch["command_topic"] == f"{prefix}/timelapse/garden/set"
        for component, object_id in (("sensor", "state"), ("sensor", "frames"), ("sensor", "last_capture"),
                                     ("sensor", "render_progress"), ("image", "image"),
                                     ("button", "render"), ("binary_sensor", "problem")):
            await rec.next_on(f"{prefix}_ha/{component}/{prefix}/timelapse_garden_{object_id}/config", 0)
        await wait_until(lambda: rt.frames >= 2, what="2 frames")
        assert str(rt.state) == "running"  # the retained "stop" was ignored
        image = await rec.next_on(f"{prefix}/timelapse/garden/image", 0)
        assert image.payload[:2] == b"\xff\xd8"

        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(command, b"", qos=1, retain=True)  # clear the retained command
            await client.publish(command, "OFF", qos=1)  # the HA switch
            await wait_until(lambda: str(rt.state) == "paused", what="paused by MQTT")
            state = json.loads(rec.on(f"{prefix}/timelapse/garden/state")[-1].payload)
            await rec.wait(lambda: json.loads(rec.on(f"{prefix}/timelapse/garden/state")[-1].payload)["state"]
                           == "paused", 10, "paused state on MQTT")
            await client.publish(command, "ON", qos=1)
            await wait_until(lambda: str(rt.state) == "running", what="resumed by MQTT")
            await client.publish(command, "render", qos=1)
            render = await rec.wait(lambda: [json.loads(m.payload) for m in rec.on(f"{prefix}/timelapse/garden/render")
                                             if m.payload and json.loads(m.payload)["state"] == "done"],
                                    30, "render done on MQTT")
            assert render[-1]["percent"] == 100.0 and render[-1]["timelapse"] == "garden"
            progress = [json.loads(m.payload) for m in rec.on(f"{prefix}/timelapse/garden/render") if m.payload]
            early = [p for p in progress if p["percent"] == 100.0 and p["state"] != "done"]
            assert not early, f"render progress 100 before done: {early}"
        assert state["id"] == "garden"


async def test_reconcile_removes_leftovers_of_a_crash(broker, prefix, tmp_path):
    """A temp file, a frame file without a row (killed between rename and insert) and a row
    whose file is gone are cleaned up when the bridge starts."""
    config = make_config(broker.port, prefix, {"cam": {"url": LAVFI}}, data_dir=tmp_path,
                         sections={"timelapses": {"tl": {"camera": "cam", "interval": 1}}})
    async with running(config) as bridge:
        rt = bridge.timelapses.get("tl")
        await wait_until(lambda: rt.frames >= 2, what="2 frames")
        rows = await asyncio.to_thread(bridge.timelapses.archive.frames, "tl")
    root = tmp_path / "timelapses" / "tl"
    day = root / rows[0].path.split("/")[1]
    temp = day / ".235959.jpg.123.tmp"
    temp.write_bytes(b"\xff\xd8 half")
    orphan = day / "235958.jpg"
    orphan.write_bytes((root.parent / rows[0].path).read_bytes())
    (root.parent / rows[1].path).unlink()
    async with running(config) as bridge:
        assert not temp.exists() and not orphan.exists()
        paths = {r.path for r in await asyncio.to_thread(bridge.timelapses.archive.frames, "tl")}
        assert rows[1].path not in paths and rows[0].path in paths
        assert all((root.parent / p).is_file() for p in paths)


async def test_completion_renders_and_deletes_the_rendered_frames(broker, prefix):
    """end_frames reached -> completed (reason end_frames) -> render_on_complete renders ->
    delete_frames_after_render removes the frames the video holds."""
    top = {"timelapses": {"tl": {"camera": "cam", "interval": 1, "end_frames": 3,
                                 "delete_frames_after_render": True}}}
    async with bridge_with(broker, prefix, **top) as (bridge, http):
        rt = bridge.timelapses.get("tl")
        await wait_until(lambda: rt.render is not None and rt.render["state"] == "done", 30, "render done")
        assert str(rt.state) == "completed" and rt.reason == "end_frames"
        assert rt.render["trigger"] == "completed" and rt.render["total"] == 3
        status, videos = await call(http, "GET", url(bridge, "/api/timelapses/tl/videos"))
        assert [v["frames"] for v in videos["videos"]] == [3]
        status, frames = await call(http, "GET", url(bridge, "/api/timelapses/tl/frames"))
        assert frames["total"] == 0 and rt.frames == 0
        left = sorted(p.name for p in (bridge.timelapses.root / "tl").iterdir())
        assert left in (["videos"], ["thumbnail.jpg", "videos"]), f"frame folders left: {left}"
        status, err = await call(http, "POST", url(bridge, "/api/timelapses/tl/actions/render"))
        assert status == 409 and "no frames" in err["message"]


async def test_a_completion_render_refused_by_the_disk_guard_is_owed_until_it_runs(
        broker, prefix, tmp_path, monkeypatch):
    """Completed while the disk is full: the render is not dropped but pending (API, MQTT state);
    it is still owed after a restart, and runs once space is back."""
    from bridge.timelapse import manager as manager_module

    monkeypatch.setattr(manager_module, "HOUSEKEEPING", 0.1)
    config = make_config(broker.port, prefix, {"cam": {"url": LAVFI}}, data_dir=tmp_path, sections={
        "timelapse": {"min_free_mb": 1},
        "timelapses": {"tl": {"camera": "cam", "interval": 1, "end_after": 4}}})
    async with running(config) as bridge, aiohttp.ClientSession() as http:
        manager = bridge.timelapses
        rt = manager.get("tl")
        await wait_until(lambda: rt.frames >= 1, what="a frame")
        manager.free = lambda _path: 200 * 1024  # below min_free_mb until the end of this run
        await wait_until(lambda: str(rt.state) == "completed", 20, "completion")
        await asyncio.sleep(0.5)  # several housekeeping rounds: all refused
        assert rt.render is None and rt.render_pending == "completed"
        status, body = await call(http, "GET", url(bridge, "/api/timelapses/tl"))
        assert body["render_pending"] == "completed" and body["videos"] == 0
        frames = rt.frames
    async with running(config) as bridge, aiohttp.ClientSession() as http:  # real free space now
        rt = bridge.timelapses.get("tl")
        await wait_until(lambda: rt.render is not None and rt.render["state"] == "done", 30, "the owed render")
        assert rt.render["trigger"] == "completed" and rt.render["total"] == frames
        assert rt.render_pending is None
        status, videos = await call(http, "GET", url(bridge, "/api/timelapses/tl/videos"))
        assert [v["frames"] for v in videos["videos"]] == [frames]
    async with running(config) as bridge:  # rendered: nothing owed any more
        await asyncio.sleep(0.3)
        rt = bridge.timelapses.get("tl")
        assert rt.render_pending is None and rt.render is None


async def test_a_daily_render_refused_by_the_disk_guard_runs_when_space_returns(broker, prefix, monkeypatch):
    from bridge.timelapse import manager as manager_module

    monkeypatch.setattr(manager_module, "HOUSEKEEPING", 0.1)
    top = {"timelapse": {"timezone": "UTC"},
           "timelapses": {"tl": {"camera": "cam", "interval": 1, "render_at": "23:30"}}}
    async with bridge_with(broker, prefix, **top) as (bridge, _http):
        manager = bridge.timelapses
        rt = manager.get("tl")
        now = {"t": 1_782_084_000.0}  # 2026-06-21 23:20 UTC
        manager.clock = lambda: now["t"]
        rt.next_daily = None
        await wait_until(lambda: rt.frames >= 1 and rt.next_daily == 1_782_084_600.0, what="a frame")
        free = {"bytes": 200 * 1024}
        manager.free = lambda _path: free["bytes"]
        now["t"] = 1_782_084_601.0  # 23:30 passed while the disk is full
        await wait_until(lambda: rt.render_pending == "daily", what="the daily render pending")
        await asyncio.sleep(0.3)
        assert rt.render is None
        free["bytes"] = 10**12
        await wait_until(lambda: rt.render is not None and rt.render["state"] == "done", 30, "daily render")
        assert rt.render["trigger"] == "daily" and rt.render_pending is None


async def test_cancel_through_the_api_leaves_no_video_and_the_next_render_works(broker, prefix):
    """REST cancel of a running render: state cancelled (event, metric), no file or row left;
    a render after it runs to the end."""
    top = {"timelapses": {"tl": {"camera": "cam", "interval": 3600, "width": 1920}}}
    async with bridge_with(broker, prefix, **top) as (bridge, http):
        manager = bridge.timelapses
        rt = manager.get("tl")
        await wait_until(lambda: rt.frames >= 1, what="a frame")
        first = (await asyncio.to_thread(manager.archive.frames, "tl"))[0]
        jpeg = manager.archive.path(first.path).read_bytes()

        def add_many() -> None:  # a long timelapse, so that the render is still running
            for i in range(1, 400):
                manager.archive.add_frame("tl", jpeg, first.captured_at - i, 320, 240, 1.0, ())
        await asyncio.to_thread(add_many)
        await manager.load_counts(rt)
        status, _ = await call(http, "POST", url(bridge, "/api/timelapses/tl/actions/render"))
        assert status == 202
        await wait_until(lambda: rt.render["frames"] > 0, 30, "render progress")
        status, body = await call(http, "POST", url(bridge, "/api/timelapses/tl/actions/cancel"))
        assert status in (200, 202), body
        assert rt.render["state"] == "cancelled" and not rt.rendering
        assert 0 < rt.render["percent"] < 100
        assert list((manager.root / "tl" / "videos").glob("*")) == []
        assert (await call(http, "GET", url(bridge, "/api/timelapses/tl/videos")))[1]["videos"] == []
        async with http.get(url(bridge, "/metrics")) as resp:
            metrics = await resp.text()
        assert 'camera_bridge_timelapse_renders_total{result="cancelled",timelapse="tl"} 1.0' in metrics
        status, _ = await call(http, "POST", url(bridge, "/api/timelapses/tl/actions/cancel"))
        assert status == 409  # nothing to cancel
        status, _ = await call(http, "POST", url(bridge, "/api/timelapses/tl/actions/render"))
        assert status == 202
        await wait_until(lambda: rt.render["state"] == "done", 120, "the next render")
        videos = (await call(http, "GET", url(bridge, "/api/timelapses/tl/videos")))[1]["videos"]
        assert [v["frames"] for v in videos] == [rt.frames]


async def test_keep_days_deletes_old_frames(broker, prefix, tmp_path):
    from bridge.store import Store
    from bridge.timelapse import retention
    from bridge.config.timelapse import Settings
    from bridge.timelapse.archive import TimelapseArchive

    store = Store(tmp_path / "bridge.db")
    archive = TimelapseArchive(store, tmp_path / "timelapses")
    archive.save("tl", origin="api", state="running", config={"camera": "cam"})
    ok, buf = cv2.imencode(".jpg", np.full((8, 8, 3), 100, np.uint8))
    now = time.time()
    for age_days in (10, 3, 0):
        archive.add_frame("tl", buf.tobytes(), now - age_days * 86400, 8, 8, 1.0, ())
    assert retention.apply(archive, "tl", Settings(keep_days=5), now) == {"frames": 1, "videos": 0}
    left = archive.frames("tl")
    assert len(left) == 2 and all(archive.path(f.path).is_file() for f in left)
    assert len(list((tmp_path / "timelapses" / "tl").glob("*/*.jpg"))) == 2
    store.close()


async def test_server_sent_events_carry_timelapse_events(broker, prefix):
    top = {"timelapses": {"tl": {"camera": "cam", "interval": 1}}}
    async with bridge_with(broker, prefix, **top) as (bridge, http):
        async with http.get(url(bridge, "/api/events?types=timelapse.frame,timelapse.status")) as resp:
            assert resp.status == 200
            seen: dict[str, dict] = {}
            event = None
            async with asyncio.timeout(20):
                async for raw in resp.content:
                    line = raw.decode().strip()
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event:
                        seen.setdefault(event, json.loads(line[6:]))
                    if len(seen) == 2:
                        break
        assert seen["timelapse.frame"]["timelapse"] == "tl" and seen["timelapse.frame"]["kept"] is True
        assert seen["timelapse.status"]["id"] == "tl"
