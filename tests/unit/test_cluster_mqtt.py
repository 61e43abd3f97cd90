"""Cluster mode on MQTT without a broker: a camera's topics and Home Assistant unique ids are the
same whichever bridge runs it, and its discovery names its current owner's availability."""

from __future__ import annotations

from bridge.config import CameraConfig
from bridge.mqtt import discovery
from bridge.mqtt.topics import Topics


def configs(member: str | None) -> dict[str, dict]:
    topics = Topics("camera_bridge", "homeassistant", member=member)
    return dict(discovery.camera_configs(topics, CameraConfig(id="porch", url="rtsp://192.0.2.10/s")))


def test_a_camera_keeps_its_topics_and_unique_ids_when_it_moves():
    on_a, on_b = configs("bridge-a"), configs("bridge-b")
    assert on_a.keys() == on_b.keys() == configs(None).keys()
    assert [p["unique_id"] for p in on_a.values()] == [p["unique_id"] for p in on_b.values()]
    assert [p["unique_id"] for p in on_a.values()] == [p["unique_id"] for p in configs(None).values()]


def test_a_cameras_availability_follows_its_owner():
    for member, other in (("bridge-a", "bridge-b"), ("bridge-b", "bridge-a")):
        for payload in configs(member).values():
            named = [a["topic"] for a in payload.get("availability", [])]
            assert f"camera_bridge/bridge/{member}/availability" in named
            assert not any(other in topic for topic in named)
            assert "camera_bridge/bridge/availability" not in named
            assert payload["device"]["via_device"] == f"camera_bridge_bridge_{member}"


def test_each_bridge_has_its_own_device_and_entities():
    a = discovery.bridge_configs(Topics("camera_bridge", "homeassistant", member="bridge-a"))
    b = discovery.bridge_configs(Topics("camera_bridge", "homeassistant", member="bridge-b"))
    assert {t for t, _ in a}.isdisjoint({t for t, _ in b})
    assert {p["unique_id"] for _, p in a}.isdisjoint({p["unique_id"] for _, p in b})
    assert a[0][1]["device"]["identifiers"] != b[0][1]["device"]["identifiers"]
    assert Topics("x", "ha", member="bridge-a").bridge_availability == "x/bridge/bridge-a/availability"
