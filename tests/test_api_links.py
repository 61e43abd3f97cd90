"""Signed links against a live bridge: ``POST /api/links`` makes a URL of a camera's snapshot or
MJPEG stream that works without credentials; expired, tampered, moved and revoked links are
refused (401), and only operators with an API key may make them."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp
import cv2
import jwt
import numpy as np

from bridge.api.auth import generate_key, hash_key

from .conftest import make_config, running
from .peers import SHARED
from .test_api_cameras import base_url, wait_for_snapshot
from .test_api_rpc import KEY_CONFIG, KEYS

SECRET = "jwt-secret-for-the-signed-link-tests-0123456"
FRONT_KEY = generate_key()
FRONT_ENTRY = {"name": "front-only", "hash": hash_key(FRONT_KEY), "role": "operator", "cameras": ["front"]}


def config_for(broker, rtsp, prefix, data_dir, keys):
    return make_config(broker.port, prefix, {"front": {"url": rtsp.url}, "back": {"url": rtsp.url}},
                       api={"auth": "required", "jwt_secret": SECRET, "keys": keys,
                            "rate_limit": {"rate": 1000, "burst": 1000, "auth_failures": 1000}},
                       data_dir=data_dir)


async def test_signed_links_valid_expired_tampered_moved_revoked(broker, rtsp, prefix, caplog):
    data_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-links-"))
    operator = {"X-API-Key": KEYS["operator"]}
    async with running(config_for(broker, rtsp, prefix, data_dir, [*KEY_CONFIG, FRONT_ENTRY])) as bridge, \
            aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "front")

        async def make(headers, **body):
            async with http.post("/api/links", json=body, headers=headers) as resp:
                return resp.status, await resp.json()

        status, link = await make(operator, camera="front")
        assert status == 201 and link["path"].startswith("/api/cameras/front/snapshot.jpg?exp=")
        assert link["url"].endswith(link["path"]) and link["url"].startswith("http://127.0.0.1:")
        async with http.get(link["path"]) as resp:  # no credentials at all
            assert resp.status == 200 and resp.content_type == "image/jpeg"
            image = cv2.imdecode(np.frombuffer(await resp.read(), np.uint8), cv2.IMREAD_COLOR)
            assert image is not None
        _, stream = await make(operator, camera="front", kind="mjpeg", expires_in=60)
        async with http.get(stream["path"]) as resp:
            assert resp.status == 200 and resp.content_type == "multipart/x-mixed-replace"
            assert (await resp.content.readline()).startswith(b"--")

        async def refused(path, words):
            async with http.get(path) as resp:
                body = await resp.json()
                assert resp.status == 401 and body["error"] == "unauthorized", (path, body)
                assert words in body["message"], body

        path, query = link["path"].split("?")
        sig = query.rsplit("sig=", 1)[1]
        await refused(f"{path}?{query[:-len(sig)]}{'A' if sig[0] != 'A' else 'B'}{sig[1:]}", "invalid")
        await refused(f"{path.replace('front', 'back')}?{query}", "invalid")  # moved to another camera
        await refused(f"/api/cameras/front?{query}", "opens only")  # another route
        exp = query.split("exp=")[1].split("&")[0]
        await refused(f"{path}?{query.replace(exp, str(int(exp) + 3600))}", "invalid")  # extended
        _, short = await make(operator, camera="front", expires_in=1)
        await asyncio.sleep(2.1)
        await refused(short["path"], "expired")

        # who may make links, and for which cameras
        assert (await make({"X-API-Key": KEYS["viewer"]}, camera="front"))[0] == 403
        token = jwt.encode({"sub": "op", "role": "operator", "exp": int(time.time()) + 600}, SECRET,
                           algorithm="HS256")
        assert (await make({"Authorization": f"Bearer {token}"}, camera="front"))[0] == 403
        assert (await make({"X-API-Key": FRONT_KEY}, camera="back"))[0] == 404
        assert (await make(operator, camera="nope"))[0] == 404
        for body in ({"camera": "front", "kind": "video"}, {"camera": "front", "expires_in": 0},
                     {"camera": "front", "expires_in": 10**9}, {}):
            status, answer = await make(operator, **body)
            assert status == 400 and answer["error"] == "invalid_parameter", answer
        status, front_link = await make({"X-API-Key": FRONT_KEY}, camera="front")
        assert status == 201
        async with http.get(front_link["path"]) as resp:
            assert resp.status == 200

    assert (data_dir / "link.key").stat().st_mode & 0o777 == 0o600
    # the key that made a link is removed: its links stop working; others' links keep working
    async with running(config_for(broker, rtsp, prefix, data_dir, KEY_CONFIG)) as bridge, \
            aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "front")
        async with http.get(front_link["path"]) as resp:
            assert resp.status == 401 and "revoked" in (await resp.json())["message"]
        async with http.get(link["path"]) as resp:
            assert resp.status == 200
    assert FRONT_KEY not in caplog.text and KEYS["operator"] not in caplog.text


MODEL = SHARED / "models" / "yolox_nano.onnx"
OPS2_KEY, WIDE_KEY = generate_key(), generate_key()


def event_config(broker, rtsp, prefix, data_dir, keys):
    detect = {"enabled": True, "fps": 5, "model": str(MODEL), "clips": {"pre": 1.0, "post": 1.0}}
    return make_config(broker.port, prefix, {"street": {"url": rtsp.url, "detect": detect}, "back": {"url": rtsp.url}},
                       api={"auth": "required", "keys": keys,
                            "rate_limit": {"rate": 1000, "burst": 1000, "auth_failures": 1000}},
                       data_dir=data_dir)


async def test_signed_links_to_event_media_valid_expired_tampered_revoked_and_per_camera(broker, rtsp, prefix):
    data_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-event-links-"))
    back_only = {**FRONT_ENTRY, "name": "back-only", "cameras": ["back"]}
    ops2 = {"name": "ops2", "hash": hash_key(OPS2_KEY), "role": "operator"}
    wide = {"name": "wide", "hash": hash_key(WIDE_KEY), "role": "operator", "cameras": ["street", "back"]}
    operator = {"X-API-Key": KEYS["operator"]}
    async with running(event_config(broker, rtsp, prefix, data_dir, [*KEY_CONFIG, back_only, ops2, wide])) as bridge, \
            aiohttp.ClientSession(base_url(bridge)) as http:
        events = bridge.events.subscribe(["detection.event"])
        worker = bridge.detectors["street"]
        deadline = time.monotonic() + 60
        new = None
        while new is None:  # a new event with its snapshot
            assert time.monotonic() < deadline, "no detection event"
            envelope = await asyncio.wait_for(events.queue.get(), 60)
            payload = envelope.data.get("event") or {}
            if payload.get("type") == "new" and payload.get("snapshot_url"):
                new = payload
        worker.set_enabled(False)  # ends it: the end event carries the clip
        end = None
        while end is None:
            assert time.monotonic() < deadline + 30, "no end event with a clip"
            envelope = await asyncio.wait_for(events.queue.get(), 60)
            payload = envelope.data.get("event") or {}
            if payload.get("type") == "end" and payload.get("id") == new["id"] and payload.get("clip_url"):
                end = payload
        event_id = new["id"]

        async def make(headers, **body):
            async with http.post("/api/links", json=body, headers=headers) as resp:
                return resp.status, await resp.json()

        status, snap = await make(operator, event=event_id, kind="event_snapshot")
        assert status == 201, snap
        assert snap["path"].startswith(f"/api/events/{event_id}/snapshot.jpg?exp=")
        assert (snap["camera"], snap["event"], snap["kind"]) == ("street", event_id, "event_snapshot")
        async with http.get(snap["path"]) as resp:  # no credentials
            assert resp.status == 200 and resp.content_type == "image/jpeg"
            assert (await resp.read())[:2] == b"\xff\xd8"
        status, clip = await make({"X-API-Key": OPS2_KEY}, event=event_id, kind="event_clip", expires_in=600)
        assert status == 201 and clip["path"].startswith(f"/api/events/{event_id}/clip.mp4?exp=")
        async with http.get(clip["path"]) as resp:
            assert resp.status == 200 and resp.content_type == "video/mp4"
            assert (await resp.read())[4:8] == b"ftyp"
        status, wide_clip = await make({"X-API-Key": WIDE_KEY}, event=event_id, kind="event_clip")
        assert status == 201

        async def refused(path, words):
            async with http.get(path) as resp:
                body = await resp.json()
                assert resp.status == 401 and words in body["message"], (path, body)

        path, query = snap["path"].split("?")
        sig = query.rsplit("sig=", 1)[1]
        await refused(f"{path}?{query[:-len(sig)]}{'A' if sig[0] != 'A' else 'B'}{sig[1:]}", "invalid")
        await refused(f"{path.replace('snapshot.jpg', 'clip.mp4')}?{query}", "invalid")  # other media
        await refused(f"/api/events/{event_id}?{query}", "opens only")  # the event's JSON: not a link's
        _, short = await make(operator, event=event_id, kind="event_snapshot", expires_in=1)
        await asyncio.sleep(2.1)
        await refused(short["path"], "expired")

        # a key limited to other cameras: the event does not exist for it
        limited = {"X-API-Key": FRONT_KEY}
        assert (await make(limited, event=event_id, kind="event_snapshot"))[0] == 404
        for suffix in ("", "/snapshot.jpg", "/clip.mp4"):
            async with http.get(f"/api/events/{event_id}{suffix}", headers=limited) as resp:
                assert resp.status == 404, suffix
            async with http.get(f"/api/events/{event_id}{suffix}", headers=operator) as resp:
                assert resp.status == 200, suffix
        assert (await make(operator, event="123-4", kind="event_snapshot"))[0] == 404
        assert (await make(operator, event="../x", kind="event_clip"))[0] == 400
        assert (await make(operator, camera="street", kind="event_clip"))[0] == 400

    # ops2 removed: its links are revoked; wide now limited to back: its link is 404; others work
    # (the clip is on disk: the event's camera comes from there after a restart)
    wide_now = {**wide, "cameras": ["back"]}
    async with running(event_config(broker, rtsp, prefix, data_dir, [*KEY_CONFIG, back_only, wide_now])) as bridge, \
            aiohttp.ClientSession(base_url(bridge)) as http:
        async with http.get(clip["path"]) as resp:
            assert resp.status == 401 and "revoked" in (await resp.json())["message"]
        async with http.get(wide_clip["path"]) as resp:
            assert resp.status == 404
        _, again = await make_link(http, operator, event=event_id, kind="event_clip")
        async with http.get(again["path"]) as resp:
            assert resp.status == 200 and resp.content_type == "video/mp4"


async def make_link(http, headers, **body):
    async with http.post("/api/links", json=body, headers=headers) as resp:
        return resp.status, await resp.json()
