"""Event clips over the real RTSP server and broker: the camera's packet ring plus the packets
until ``post`` seconds after the event, remuxed without re-encode into an MP4 (probed with
ffprobe); the ``end`` event carries URLs that answer when it arrives; Range requests; the config
refuses clips on a masked camera; retention and the disk guard."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import ConfigError, camera_from_data
from bridge.core.errors import NotFound
from bridge.config.detect import ClipsConfig
from bridge.detect import clips

from .conftest import make_config, recording, running
from .peers import SHARED

MODEL = SHARED / "models" / "yolox_nano.onnx"
GOP = 1.0  #: seconds, the test clip's keyframe interval


def probe(path: Path) -> tuple[float, str, list[str]]:
    """Duration (s), codec, flags of the first packets of an MP4, by ffprobe."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    flags = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=flags",
                            "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout.split()
    return float(data["format"]["duration"]), data["streams"][0]["codec_name"], flags[:3]


async def test_event_clip_is_a_stream_copy_from_a_keyframe_and_its_urls_answer(broker, rtsp, prefix, tmp_path):
    pre, post = 2.0, 2.0
    detect = {"enabled": True, "fps": 5, "model": str(MODEL), "clips": {"pre": pre, "post": post}}
    config = make_config(broker.port, prefix, {"street": {"url": rtsp.url, "detect": detect}}, data_dir=tmp_path)
    base = f"{prefix}/street"
    async with recording(broker.port, prefix) as rec, running(config) as bridge, \
            aiohttp.ClientSession(f"http://127.0.0.1:{bridge.api.port}") as http:
        worker = bridge.detectors["street"]
        worker.set_enabled(False)  # the ring fills while detection is off: a full `pre` for the event
        await asyncio.sleep(pre + 2 * GOP + 0.5)
        worker.set_enabled(True)
        await rec.wait(lambda: [m for m in rec.on(f"{base}/events") if json.loads(m.payload)["type"] == "new"],
                       30, "a new event")
        await rec.wait(lambda: len(rec.on(f"{base}/events")) > 3, 10, "more events")
        await asyncio.sleep(1.5)
        worker.set_enabled(False)  # ends every event (detection_off)
        off_at = time.time()
        ends = await rec.wait(lambda: [json.loads(m.payload) for m in rec.on(f"{base}/events")
                                       if json.loads(m.payload)["type"] == "end"], 20, "the end events")
        arrived = time.time()
        news = [json.loads(m.payload) for m in rec.on(f"{base}/events") if json.loads(m.payload)["type"] == "new"]
        end = ends[0]
        assert end["end_reason"] == "detection_off"
        # held until the clip was written: post seconds after the end, and then at once
        assert arrived - off_at >= post
        assert end["clip_url"] == f"/api/events/{end['id']}/clip.mp4"
        async with http.get(end["clip_url"]) as resp:
            assert resp.status == 200 and resp.content_type == "video/mp4"
            body = await resp.read()
        async with http.get(end["clip_url"], headers={"Range": "bytes=0-99"}) as resp:
            assert resp.status == 206 and len(await resp.read()) == 100
        async with http.get(f"/api/events/{end['id']}") as resp:
            assert resp.status == 200
            info = await resp.json()
        snapshot_url = next((e["snapshot_url"] for e in news if e.get("snapshot_url")), None)
        assert snapshot_url is not None
        async with http.get(snapshot_url) as resp:
            assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"
        async with http.get("/api/events/123-4/clip.mp4") as resp:
            assert resp.status == 404
        async with http.get("/api/events/..%2Fx/clip.mp4") as resp:
            assert resp.status in (400, 404)
        metrics = await (await http.get("/metrics")).text()
        async with http.get("/api/cameras/street/clips") as resp:
            assert resp.status == 200
            listed = (await resp.json())["clips"]
        async with http.get("/api/cameras/nope/clips") as resp:
            assert resp.status == 404
    assert info["camera"] == "street" and info["clip_url"] == end["clip_url"]
    # every ended event's clip is listed (overlapping events share one file under their ids)
    by_id = {c["id"]: c for c in listed}
    assert {e["id"] for e in ends} <= set(by_id), (ends, listed)
    entry = by_id[end["id"]]
    assert entry["url"] == end["clip_url"] and entry["label"] == "person" and entry["size"] == len(body)
    assert entry["started_at"] < entry["ended_at"]
    assert [c["ended_at"] for c in listed] == sorted((c["ended_at"] for c in listed), reverse=True)
    assert body[4:8] == b"ftyp"
    path = tmp_path / "clips" / "street" / f"{end['id']}.mp4"
    assert path.read_bytes() == body
    duration, codec, flags = probe(path)
    assert codec == "h264"
    assert flags[0].startswith("K"), f"the clip does not start at a keyframe: {flags}"
    first = next(e for e in news if e["id"] == end["id"])
    expected = pre + (end["end_time"] - first["frame_time"]) + post
    assert -0.5 <= duration - expected <= GOP + 0.5, f"clip {duration:.2f} s, expected {expected:.2f} s + < 1 GOP"
    samples = {s.name: s.value for family in text_string_to_metric_families(metrics) for s in family.samples
               if s.labels.get("camera") == "street"}
    assert samples["camera_bridge_clip_ring_bytes"] > 0
    assert samples["camera_bridge_keyframe_ring_bytes"] == 0  # one stream: the detection frame is the picture
    assert samples["camera_bridge_ring_max_bytes"] == 256 * 1024 * 1024  # event_snapshot.max_memory_mb


def test_clips_on_a_masked_camera_need_allow_unmasked():
    masked = {"url": "rtsp://cam/x", "privacy_masks": [[[0, 0], [0.5, 0], [0.5, 0.5]]],
              "detect": {"enabled": True, "clips": {"pre": 3}}}
    with pytest.raises(ConfigError, match=r"privacy_masks.*allow_unmasked"):
        camera_from_data("porch", masked)
    masked["detect"]["clips"]["allow_unmasked"] = True
    cam = camera_from_data("porch", masked)
    assert cam.detect.clips.enabled and cam.detect.clips.pre == 3
    assert not camera_from_data("plain", {"url": "rtsp://cam/x"}).detect.clips.enabled


def test_retention_deletes_old_clips_then_the_oldest_over_the_size_cap(tmp_path):
    now = time.time()
    for i, age_days in enumerate([10, 3, 2, 1]):
        path = tmp_path / f"{i}-1.mp4"
        path.write_bytes(b"x" * 600_000)
        os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    os.link(tmp_path / "3-1.mp4", tmp_path / "3-2.mp4")  # one clip, two events: counted once
    deleted = clips.apply_retention(tmp_path, ClipsConfig(enabled=True, max_age=7, max_size_mb=1.2), now)
    assert deleted == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2-1.mp4", "3-1.mp4", "3-2.mp4"]


async def test_disk_guard_skips_the_clip_and_the_end_event_goes_out_without_a_clip_url(tmp_path):
    from bridge.camera import Camera
    from bridge.capture.ring import Recording

    camera = Camera(camera_from_data("porch", {"url": "rtsp://127.0.0.1:9/x"}))
    emitted: list[list[dict]] = []
    config = ClipsConfig(enabled=True, min_free_mb=1_000_000)  # a terabyte free: never here
    recorder = clips.ClipRecorder(camera, config, tmp_path, emitted.append)
    end = {"type": "end", "id": "1764312687243-7"}
    await recorder._write(Recording([], None, 1), ["1764312687243-7"], [end])
    assert emitted == [[end]] and "clip_url" not in end
    assert recorder.skipped == 1 and not list(tmp_path.rglob("*.mp4"))


async def test_clips_are_listed_and_found_in_a_cameras_own_clips_dir(tmp_path):
    from types import SimpleNamespace

    from bridge.config import parse
    from bridge.core.events import EventBus
    from bridge.ports import LiveView, Parts

    own = tmp_path / "nas" / "street"  # detect.clips.dir: /nas -> /nas/street
    own.mkdir(parents=True)
    for name, mtime in (("1764312687243-7.mp4", 1000), ("1764312699000-9.mp4", 2000),
                        (".1764312700000-1.mp4.ab12.tmp.mp4", 3000), ("notes.txt", 4000)):
        (own / name).write_bytes(b"\0" * 100)
        os.utime(own / name, (mtime, mtime))
    recorder = SimpleNamespace(dir=own)
    worker = SimpleNamespace(clip_recorder=recorder, event_pictures={"1764312699000-9": object()},
                             recent_events={"1764312699000-9": {"label": "person", "clip_url": "x"}})
    cfg = parse(json.dumps({"mqtt": {"host": "h"}, "cameras": {"street": {"url": "rtsp://cam/x"}}}))
    cameras = SimpleNamespace(cameras={"street": object()}, detectors={"street": worker},
                              clip_root=tmp_path / "data" / "clips")
    view = LiveView(Parts(cfg, EventBus(), cameras))  # type: ignore[arg-type]
    listed = await view.event_clips("street")
    assert [(c["id"], c["label"], c["snapshot_url"] is not None) for c in listed] == [
        ("1764312699000-9", "person", True), ("1764312687243-7", None, False)]  # newest first, no temp file
    assert listed[1]["started_at"] == "2025-11-28T06:51:27.243+00:00" and listed[1]["size"] == 100
    assert view.event_clip("1764312687243-7") == own / "1764312687243-7.mp4"  # its URL answers
    assert view.event("1764312687243-7")["clip_url"] == "/api/events/1764312687243-7/clip.mp4"
    with pytest.raises(NotFound):
        view.event_clip("1764312700000-1")
    with pytest.raises(NotFound):
        await view.event_clips("porch")
