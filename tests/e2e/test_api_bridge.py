"""``GET /api/bridge`` and ``PUT /api/bridge/discovery`` against a live bridge and a real broker:
the id survives restarts, and switching discovery off clears the retained discovery configs
(so Home Assistant's MQTT integration removes the duplicate entities), across restarts."""

from __future__ import annotations

import json

import aiohttp

from ..conftest import make_config, recording, running
from ..peers import retained


def base_url(bridge) -> str:
    return f"http://127.0.0.1:{bridge.api.port}"


async def test_bridge_id_is_persistent_and_shown_on_api_and_mqtt(broker, prefix, tmp_path):
    cams = {"demo": {"url": "lavfi:testsrc2=size=160x120:rate=5"}}
    config = make_config(broker.port, prefix, cams, data_dir=tmp_path / "state")
    async with recording(broker.port, prefix) as rec, running(config) as bridge, \
            aiohttp.ClientSession(base_url(bridge)) as http:
        info = await (await http.get("/api/bridge")).json()
        assert len(info["id"]) == 32 and info["cameras"] == {"demo": info["cameras"]["demo"]}
        assert info["mqtt"] == {"base_topic": prefix, "node_id": prefix, "discovery": True,
                                "discovery_configured": True, "discovery_prefix": f"{prefix}_ha",
                                "connected": bridge.publisher.link.connected.is_set()}
        assert info["mediamtx"] is None  # not enabled
        state = await rec.next_on(f"{prefix}/bridge/state", 0.0)
    assert json.loads(state.payload)["id"] == info["id"]
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        again = await (await http.get("/api/bridge")).json()
    assert again["id"] == info["id"]


async def test_discovery_switched_off_clears_configs_and_stays_off(broker, prefix, tmp_path):
    cams = {"demo": {"url": "lavfi:testsrc2=size=160x120:rate=5"}}
    config = make_config(broker.port, prefix, cams, data_dir=tmp_path / "state")
    disc = [f"{prefix}_ha/#"]
    async with recording(broker.port, prefix) as rec, running(config) as bridge, \
            aiohttp.ClientSession(base_url(bridge)) as http:
        await rec.wait(lambda: len(rec.on(f"{prefix}/bridge/state")) > 0, what="bridge state")
        assert any(t.endswith("/config") for t in await retained(broker.port, disc))

        for bad in ({"enabled": "no"}, {}, {"enabled": False, "x": 1}):
            resp = await http.put("/api/bridge/discovery", json=bad)
            assert resp.status == 400 and (await resp.json())["error"] == "invalid_parameter"
        resp = await http.put("/api/bridge/discovery", json={"enabled": False})
        assert resp.status == 200 and (await resp.json())["discovery"] is False
        await rec.wait(lambda: not [t for t, p in _retained_now(rec).items() if p], what="configs cleared")
        assert await retained(broker.port, disc) == {}

    # after a restart the bridge still publishes no discovery
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        info = await (await http.get("/api/bridge")).json()
        assert info["discovery"] is False and info["mqtt"]["discovery_configured"] is True
        assert await retained(broker.port, disc) == {}
        resp = await http.put("/api/bridge/discovery", json={"enabled": True})
        assert resp.status == 200 and (await resp.json())["discovery"] is True
        for _ in range(10):  # published in the background: give it a few seconds under load
            if any(t.endswith("/config") for t in await retained(broker.port, disc)):
                break
        else:
            raise AssertionError("discovery configs not published again")


async def test_discovery_cannot_be_switched_on_when_configured_off(broker, prefix, tmp_path):
    config = make_config(broker.port, prefix, {}, data_dir=tmp_path / "state", discovery=False)
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        resp = await http.put("/api/bridge/discovery", json={"enabled": True})
        assert resp.status == 409 and "mqtt.discovery" in (await resp.json())["message"]


def _retained_now(rec) -> dict[str, bytes]:
    """Last payload per discovery config topic the recorder saw."""
    last: dict[str, bytes] = {}
    for msg in rec.messages:
        if msg.topic.endswith("/config"):
            last[msg.topic] = msg.payload
    return last


async def test_bridge_methods_over_json_rpc(broker, prefix, tmp_path):
    config = make_config(broker.port, prefix, {}, data_dir=tmp_path / "state")
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http, \
            http.ws_connect("/ws") as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "bridge.get"})
        info = (await ws.receive_json())["result"]
        assert info["id"] == bridge.instance.id and info["discovery"] is True
        await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "bridge.set_discovery",
                            "params": {"enabled": "off"}})
        assert (await ws.receive_json())["error"]["code"] == -32602
        await ws.send_json({"jsonrpc": "2.0", "id": 3, "method": "bridge.set_discovery",
                            "params": {"enabled": False}})
        assert (await ws.receive_json())["result"]["discovery"] is False
        assert bridge.publisher.discovery_enabled is False


def test_damaged_instance_file_gets_a_new_id(tmp_path, caplog):
    from bridge import instance

    first = instance.load(tmp_path)
    assert instance.load(tmp_path) == first  # kept
    (tmp_path / "instance.json").write_text("{not json")
    second = instance.load(tmp_path)
    assert second.id != first.id and len(second.id) == 32
    assert "unreadable" in caplog.text
    assert instance.load(tmp_path) == second


async def test_timelapse_added_while_discovery_is_off_publishes_no_config(broker, prefix, tmp_path):
    cams = {"demo": {"url": "lavfi:testsrc2=size=160x120:rate=5"}}
    config = make_config(broker.port, prefix, cams, data_dir=tmp_path / "state")
    disc = [f"{prefix}_ha/#"]
    async with recording(broker.port, prefix) as rec, running(config) as bridge, \
            aiohttp.ClientSession(base_url(bridge)) as http:
        await rec.wait(lambda: rec.on(f"{prefix}/bridge/state"), what="bridge state")
        assert (await http.put("/api/bridge/discovery", json={"enabled": False})).status == 200
        resp = await http.post("/api/timelapses", json={"id": "garden", "camera": "demo", "interval": 60})
        assert resp.status == 201, await resp.text()
        await rec.wait(lambda: rec.on(f"{prefix}/timelapse/garden/state"), what="the timelapse's state")
        assert await retained(broker.port, disc) == {}
        assert (await http.put("/api/bridge/discovery", json={"enabled": True})).status == 200
        for _ in range(10):
            if any("garden" in t for t in await retained(broker.port, disc)):
                break
        else:
            raise AssertionError("the timelapse's discovery config was not published when switched on")
