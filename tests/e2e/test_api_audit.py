"""The audit log against a live bridge: one structured line per mutating REST or JSON-RPC call
(who, client address, what, which camera, result), none for reads, never a secret."""

from __future__ import annotations

import json
import logging

import aiohttp

from ..conftest import CAMERA_PASSWORD, CAMERA_USER, make_config, running
from .test_api_cameras import base_url
from .test_api_rpc import KEY_CONFIG, KEYS, connect


def audit_lines(caplog) -> list[dict]:
    found = []
    for record in caplog.records:
        if record.name == "bridge.audit":
            message = record.getMessage()
            assert message.startswith("audit {") and "\n" not in message
            found.append(json.loads(message.removeprefix("audit ")))
    return found


async def test_every_mutating_call_is_one_audit_line_without_secrets(broker, rtsp, prefix, caplog):
    caplog.set_level(logging.INFO, logger="bridge.audit")
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 3600}}},
                         api={"auth": "required", "keys": KEY_CONFIG})
    secret_url = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    admin, viewer = {"X-API-Key": KEYS["admin"]}, {"X-API-Key": KEYS["viewer"]}
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        async with http.get("/api/cameras", headers=admin) as resp:  # a read: not audited
            assert resp.status == 200
        async with http.post("/api/cameras", json={"name": "Porch Cam", "url": secret_url,
                                                   "snapshot": {"interval": 3600}}, headers=admin) as resp:
            assert resp.status == 201
        async with http.put("/api/cameras/porch_cam/enabled", json={"enabled": False}, headers=viewer) as resp:
            assert resp.status == 403
        async with http.delete("/api/cameras/porch_cam") as resp:
            assert resp.status == 401
        async with connect(bridge, {"X-API-Key": KEYS["operator"]}) as client:
            await client.result("cameras.list")  # a read
            await client.result("cameras.snapshot_now", {"id": "cam"})
            assert (await client.error("cameras.remove", {"id": "porch_cam"}))["code"] == -32005
        async with connect(bridge, admin) as client:
            await client.result("cameras.remove", ["porch_cam"])
    lines = audit_lines(caplog)
    assert [(e["via"], e["what"], e["camera"], e["result"], e["who"]) for e in lines] == [
        ("rest", "cameras.add", "porch_cam", 201, "api_key:admin-key"),
        ("rest", "cameras.set_enabled", "porch_cam", 403, "api_key:viewer-key"),
        ("rest", "cameras.remove", "porch_cam", 401, "unauthenticated"),
        ("rpc", "cameras.snapshot_now", "cam", "ok", "api_key:operator-key"),
        ("rpc", "cameras.remove", "porch_cam", -32005, "api_key:operator-key"),
        ("rpc", "cameras.remove", "porch_cam", "ok", "api_key:admin-key"),
    ]
    assert all(e["client"] == "127.0.0.1" for e in lines)
    assert [e.get("method") for e in lines[:3]] == ["POST", "PUT", "DELETE"]
    text = caplog.text
    assert CAMERA_PASSWORD not in text and not any(key in text for key in KEYS.values())
