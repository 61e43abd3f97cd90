"""The integration against a real bridge process: the bridge's own venv runs
``python -m bridge run`` on a real RTSP server (the shared gst-rtsp-server looping a clip made
by ffmpeg) and a real Mosquitto broker (bridge_launcher.py); Home Assistant adds it through the
config flow, shows its camera image, and follows it through the push channel.

The bridge's python is ``$CAMERA_BRIDGE_PYTHON``, else ``.venv/bin/python`` of this checkout
(made by scripts/setup.sh); the subprocess runs this checkout's ``bridge`` package. With
``--bridge-launcher=URL`` (the current-HA root, which has neither) a launcher outside starts
the bridges.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.camera_bridge import api
from custom_components.camera_bridge.const import CONF_API_KEY, CONF_SSL, CONF_VERIFY_SSL, DOMAIN
from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PORT, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from tests.peers import free_port

from .bridge_launcher import BASE_TOPIC, DISCOVERY_PREFIX, BridgeError, BridgeProcess, RemoteBridge, bridge, bridge_accepts


@pytest.fixture
async def real_bridge(hass: HomeAssistant, socket_enabled: None, request: pytest.FixtureRequest,
                      ) -> AsyncIterator[BridgeProcess | RemoteBridge]:
    """A running real bridge (stopped after the test). ``@pytest.mark.bridge_camera(options,
    clip)`` adds options to its camera, ``@pytest.mark.bridge_top(sections)`` top-level sections;
    ``@pytest.mark.bridge_feature(camera, top, reason=...)`` skips the test when this checkout's
    bridge refuses that configuration (a feature it does not have yet)."""
    launcher = request.config.getoption("bridge_launcher")
    feature = request.node.get_closest_marker("bridge_feature")
    if feature is not None and not await hass.async_add_executor_job(bridge_accepts, launcher, *feature.args):
        pytest.skip(feature.kwargs.get("reason", "this bridge lacks the feature"))
    camera = request.node.get_closest_marker("bridge_camera")
    top = request.node.get_closest_marker("bridge_top")
    real = bridge(launcher, *(camera.args if camera else ()), top=top.args[0] if top else None)
    try:
        await hass.async_add_executor_job(real.start)
    except BridgeError as err:
        await hass.async_add_executor_job(real.stop)
        pytest.fail(str(err), pytrace=False)
    try:
        yield real
    finally:
        await hass.async_add_executor_job(real.stop)


async def _wait(hass: HomeAssistant, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.1)
        await hass.async_block_till_done()


async def test_config_flow_camera_image_and_push_from_a_real_bridge(
        hass: HomeAssistant, real_bridge: BridgeProcess | RemoteBridge, hass_client, tmp_path) -> None:
    data = {CONF_HOST: "127.0.0.1", CONF_PORT: real_bridge.port, CONF_API_KEY: "cb_not-the-key",
            CONF_SSL: False, CONF_VERIFY_SSL: True}
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result.get("errors") == {"base": "invalid_auth"}, real_bridge.log_tail(2000)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**data, CONF_API_KEY: real_bridge.api_key})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry = result["result"]
    assert len(entry.unique_id) == 32
    await hass.async_block_till_done()

    coordinator = entry.runtime_data
    await _wait(hass, lambda: coordinator.push_connected, 10, "the push channel")
    await _wait(hass, lambda: hass.states.get("binary_sensor.front_door_connectivity").state == STATE_ON,
                30, "the camera to stream")
    image = await _image(hass)
    assert image.content_type == "image/jpeg" and image.content[:2] == b"\xff\xd8"

    # the live view: the bridge's MJPEG stream through Home Assistant
    client = await hass_client()
    resp = await client.get("/api/camera_proxy_stream/camera.front_door")
    assert resp.status == 200
    async with asyncio.timeout(10):
        head = await resp.content.readexactly(200)
    assert head.startswith(b"--frame") and b"\xff\xd8" in head
    resp.close()

    # a fresh snapshot saved through the service, checked by the bridge's own answer
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    target = tmp_path / "saved" / "front.jpg"
    await hass.services.async_call(DOMAIN, "snapshot", {"entity_id": "camera.front_door",
                                                        "filename": str(target), "fresh": True}, blocking=True)
    saved = await hass.async_add_executor_job(target.read_bytes)
    assert saved[:2] == b"\xff\xd8" and saved[-2:] == b"\xff\xd9"

    # no duplicates: the switch turns the bridge's MQTT discovery off, the bridge says so
    switch = f"switch.{entry.title.lower().replace(' ', '_').replace('.', '_')}_mqtt_discovery"
    assert hass.states.get(switch).state == STATE_ON
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    info = await coordinator.client.bridge()
    assert info.discovery is False and hass.states.get(switch).state == STATE_OFF

    # the camera goes away: the bridge pushes its new state, HA follows without polling
    await hass.async_add_executor_job(real_bridge.kill_camera)
    await _wait(hass, lambda: hass.states.get("binary_sensor.front_door_connectivity").state == STATE_OFF,
                30, "the camera's connectivity to turn off")
    assert hass.states.get("sensor.front_door_camera_state").state in ("connecting", "backoff", "error")
    assert coordinator.push_connected  # it came over the push channel (no poll in between)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_camera_turned_off_and_on_through_a_real_bridge(hass: HomeAssistant, real_bridge: BridgeProcess | RemoteBridge,
                                                              hass_client) -> None:
    """``camera.turn_off`` stops the real bridge's camera (no more packets, state ``disabled``
    pushed back), ``camera.turn_on`` makes it stream again."""
    entry = await _add_bridge(hass, real_bridge)
    coordinator = entry.runtime_data
    camera = hass.data["camera"].get_entity("camera.front_door")
    await _wait(hass, lambda: coordinator.push_connected, 10, "the push channel")
    await _wait(hass, lambda: hass.states.get("binary_sensor.front_door_connectivity").state == STATE_ON,
                30, "the camera to stream")
    assert camera.is_on

    await hass.services.async_call("camera", "turn_off", {"entity_id": "camera.front_door"}, blocking=True)
    assert camera.is_on is False
    await _wait(hass, lambda: hass.states.get("sensor.front_door_camera_state").state == "disabled",
                10, "the disabled state pushed by the bridge")
    assert hass.states.get("binary_sensor.front_door_connectivity").state == STATE_OFF
    frames = (await coordinator.client.cameras())[0].raw["frames"]
    await asyncio.sleep(2)
    cam = (await coordinator.client.cameras())[0]
    assert cam.raw["frames"] == frames and cam.raw["enabled"] is False  # nothing read while off
    client = await hass_client()
    assert (await client.get("/api/camera_proxy/camera.front_door")).status == 503

    await hass.services.async_call("camera", "turn_on", {"entity_id": "camera.front_door"}, blocking=True)
    assert camera.is_on is True
    await _wait(hass, lambda: hass.states.get("sensor.front_door_camera_state").state == "streaming",
                30, "the camera to stream again")
    image = await _image(hass)
    assert image.content[:2] == b"\xff\xd8"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _image(hass: HomeAssistant):
    """The camera image through HA (the first snapshot may take a keyframe or two)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return await async_get_image(hass, "camera.front_door")
        except Exception:  # HomeAssistantError until the bridge has a snapshot
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def test_client_errors_against_a_real_bridge(hass: HomeAssistant, real_bridge: BridgeProcess | RemoteBridge) -> None:
    """The API client's error family as the real bridge answers: unknown camera, role too low,
    features the bridge does not have, nothing listening."""
    session = async_get_clientsession(hass)
    admin = api.CameraBridgeClient(session, "127.0.0.1", real_bridge.port, real_bridge.api_key)
    viewer = api.CameraBridgeClient(session, "127.0.0.1", real_bridge.port, real_bridge.viewer_key)
    with pytest.raises(api.CameraBridgeNotFoundError):
        await admin.snapshot("no_such_camera")
    with pytest.raises(api.CameraBridgeAuthError):  # 403: viewer may not switch discovery
        await viewer.set_discovery(False)
    with pytest.raises(api.CameraBridgeAuthError):  # 403: viewer may not ask for a snapshot
        await viewer.snapshot_now("front_door")
    assert [c.id for c in await viewer.cameras()] == ["front_door"]
    assert await viewer.timelapses() == [] and await admin.timelapses() == []  # no timelapses here
    with pytest.raises(api.CameraBridgeConnectionError):
        await api.CameraBridgeClient(session, "127.0.0.1", free_port(), real_bridge.api_key).bridge()
    # the push channel: a refused key, nothing listening
    with pytest.raises(api.CameraBridgeAuthError):
        await anext(api.CameraBridgeClient(session, "127.0.0.1", real_bridge.port, "cb_not-the-key").events())
    with pytest.raises(api.CameraBridgeConnectionError):
        await anext(api.CameraBridgeClient(session, "127.0.0.1", free_port(), real_bridge.api_key).events())
    # features this bridge's configuration leaves out answer "none", not an error
    assert await admin.detection("front_door") is None
    with pytest.raises(api.CameraBridgeNotFoundError):
        await admin.snapshot_version("no_such_camera")


DETECT = {"detect": {"enabled": True, "fps": 5, "model": "shared:models/yolox_nano.onnx"}}


@pytest.mark.bridge_feature(DETECT, reason="this bridge has no detection yet (issue 4)")
@pytest.mark.bridge_camera(DETECT, {"width": 640, "height": 360, "fps": 10, "gop": 10, "seconds": 8})
async def test_person_detection_from_a_real_bridge(hass: HomeAssistant, real_bridge: BridgeProcess | RemoteBridge,
                                                   hass_client) -> None:
    """The shared pedestrians footage through the real bridge's detector: the person detection
    event entity fires ``new``, occupancy and count follow, all pushed; the best snapshot image
    shows the person; the detection switch turns the bridge's detection off."""
    data = {CONF_HOST: "127.0.0.1", CONF_PORT: real_bridge.port, CONF_API_KEY: real_bridge.api_key,
            CONF_SSL: False, CONF_VERIFY_SSL: True}
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry = result["result"]
    await hass.async_block_till_done()
    event_id = "event.front_door_person_detection"
    assert hass.states.get(event_id) is not None, sorted(hass.states.async_entity_ids())
    await _wait(hass, lambda: hass.states.get(event_id).attributes.get("event_type") == "new", 60,
                "a person detection event")
    fired = hass.states.get(event_id).attributes
    assert fired["label"] == "person" and 0 < fired["score"] <= 1 and len(fired["box"]) == 4
    assert hass.states.get("binary_sensor.front_door_person_occupancy").state == STATE_ON
    assert int(hass.states.get("sensor.front_door_person_count").state) >= 1

    image = "image.front_door_person_snapshot"
    await _wait(hass, lambda: hass.states.get(image).state != "unknown", 30, "a best person snapshot")
    resp = await (await hass_client()).get(f"/api/image_proxy/{image}")
    assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"

    await hass.services.async_call("switch", "turn_off", {"entity_id": "switch.front_door_detection"}, blocking=True)
    view = await entry.runtime_data.client.detection("front_door")
    assert view is not None and view["enabled"] is False
    assert hass.states.get("binary_sensor.front_door_person_occupancy").state == STATE_OFF
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


CLIPS = {"detect": {**DETECT["detect"], "clips": {"pre": 1, "post": 1}}}


@pytest.mark.bridge_feature(CLIPS, reason="this bridge has no event clips yet (issue 15)")
@pytest.mark.bridge_camera(CLIPS, {"width": 640, "height": 360, "fps": 10, "gop": 10, "seconds": 8})
async def test_event_clip_in_the_media_browser_from_a_real_bridge(
        hass: HomeAssistant, real_bridge: BridgeProcess | RemoteBridge, hass_client) -> None:
    """A person event on the real bridge, ended by switching detection off, leaves a clip: it is
    listed under the camera in the media browser (its snapshot as thumbnail) and plays through
    the proxy with Range."""
    from homeassistant.components import media_source
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, "media_source", {})
    entry = await _add_bridge(hass, real_bridge)
    event_id = "event.front_door_person_detection"
    await _wait(hass, lambda: hass.states.get(event_id).attributes.get("event_type") == "new", 60,
                "a person detection event")
    await hass.services.async_call("switch", "turn_off", {"entity_id": "switch.front_door_detection"}, blocking=True)
    folder = f"media-source://{DOMAIN}/{entry.entry_id}/event-clips/front_door"
    clips = []
    deadline = time.monotonic() + 30
    while not clips:
        assert time.monotonic() < deadline, "no clip listed"
        await asyncio.sleep(0.5)
        clips = (await media_source.async_browse_media(hass, folder)).children
    clip = clips[0]
    assert clip.can_play and clip.title.endswith("Person"), clip.title
    client = await hass_client()
    played = await media_source.async_resolve_media(hass, clip.media_content_id, None)
    resp = await client.get(played.url, headers={"Range": "bytes=0-11"})
    assert resp.status == 206 and (await resp.read())[4:8] == b"ftyp"
    # a thumbnail for the events the bridge pictured (one per label and detection frame: of two
    # people appearing in one frame, only the better scoring one gets a snapshot)
    pictured = [c for c in clips if c.thumbnail]
    assert pictured, [c.title for c in clips]
    resp = await client.get(pictured[0].thumbnail)
    assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _add_bridge(hass: HomeAssistant, real: BridgeProcess | RemoteBridge):
    data = {CONF_HOST: "127.0.0.1", CONF_PORT: real.port, CONF_API_KEY: real.api_key,
            CONF_SSL: False, CONF_VERIFY_SSL: True}
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return result["result"]


@pytest.mark.bridge_feature({}, {"timelapses": {"t": {"camera": "c"}}},
                            reason="this bridge has no timelapses yet (issue 6)")
async def test_timelapse_from_a_real_bridge(hass: HomeAssistant, real_bridge: BridgeProcess | RemoteBridge, hass_client) -> None:
    """Create a timelapse through the service, watch its frames arrive (pushed), render it with
    the button, then find the video in the media browser and play it through the proxy."""
    from homeassistant.components import media_source
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, "media_source", {})
    entry = await _add_bridge(hass, real_bridge)
    await hass.services.async_call(DOMAIN, "create_timelapse", {
        "entity_id": "camera.front_door", "name": "Garden", "id": "garden",
        "options": {"interval": 1, "min_score": 0, "fps": 5}}, blocking=True)
    await hass.async_block_till_done()
    assert hass.states.get("switch.garden_running").state == STATE_ON
    await _wait(hass, lambda: int(hass.states.get("sensor.garden_frames").state or 0) >= 3, 30, "3 frames")

    client = await hass_client()
    resp = await client.get("/api/image_proxy/image.garden_latest_frame")
    assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"

    await hass.services.async_call("switch", "turn_off", {"entity_id": "switch.garden_running"}, blocking=True)
    assert hass.states.get("sensor.garden_state").state == "paused"
    await hass.services.async_call("button", "press", {"entity_id": "button.garden_render_video"}, blocking=True)
    videos = []
    deadline = time.monotonic() + 60
    while not videos:
        assert time.monotonic() < deadline, "no video rendered"
        await asyncio.sleep(0.5)
        folder = await media_source.async_browse_media(hass, f"media-source://{DOMAIN}/{entry.entry_id}/garden")
        videos = folder.children
    played = await media_source.async_resolve_media(hass, videos[0].media_content_id, None)
    resp = await client.get(played.url, headers={"Range": "bytes=0-11"})
    assert resp.status == 206 and (await resp.read())[4:8] == b"ftyp"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


MEDIAMTX_DOWN = {"enabled": True, "api_url": f"http://127.0.0.1:{free_port()}", "health_interval": 0.2,
                 "request_timeout": 1, "rtsp_url": "rtsp://127.0.0.1:8554"}


@pytest.mark.bridge_feature({}, {"mediamtx": MEDIAMTX_DOWN}, reason="this bridge has no MediaMTX yet (issue 5)")
@pytest.mark.bridge_top({"mediamtx": MEDIAMTX_DOWN})
async def test_mediamtx_down_on_a_real_bridge(hass: HomeAssistant, real_bridge: BridgeProcess | RemoteBridge) -> None:
    """A bridge with MediaMTX configured but not answering: the availability sensor is off, the
    camera offers the restream URL (made reachable: the bridge's host), recording can be switched
    (the bridge keeps the choice until MediaMTX is back)."""
    from homeassistant.components.camera import async_get_stream_source

    entry = await _add_bridge(hass, real_bridge)
    title = entry.title.lower().replace(" ", "_").replace(".", "_")
    await _wait(hass, lambda: hass.states.get(f"binary_sensor.{title}_mediamtx") is not None, 20, "the sensor")
    await _wait(hass, lambda: hass.states.get(f"binary_sensor.{title}_mediamtx").state == STATE_OFF, 20, "off")
    assert await async_get_stream_source(hass, "camera.front_door") == "rtsp://127.0.0.1:8554/front_door"
    assert hass.states.get("switch.front_door_recording").state == STATE_OFF
    await hass.services.async_call("switch", "turn_on", {"entity_id": "switch.front_door_recording"}, blocking=True)
    assert hass.states.get("switch.front_door_recording").state == STATE_ON
    cams = await entry.runtime_data.client.cameras()
    assert cams[0].raw["mediamtx"]["recording"] is True
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


#: a second camera that never connects (no frame: ``last_frame_at`` null) with a timelapse that
#: never captures (``last_capture_at`` null), and MediaMTX configured: every discovery payload kind
DISCOVERY_TOP = {"cameras": {"broken": {"name": "Broken", "url": f"rtsp://127.0.0.1:{free_port()}/none"}},
                 "timelapses": {"porch": {"camera": "broken", "name": "Porch"}}, "mediamtx": MEDIAMTX_DOWN}


@pytest.mark.bridge_feature(DETECT, DISCOVERY_TOP, reason="this bridge lacks detection, timelapses or MediaMTX")
@pytest.mark.bridge_camera(DETECT)
@pytest.mark.bridge_top(DISCOVERY_TOP)
async def test_mqtt_discovery_of_a_real_bridge_in_home_assistants_mqtt(
        hass: HomeAssistant, real_bridge: BridgeProcess | RemoteBridge, mock_hass_config: None, mqtt_mock_entry,
        caplog: pytest.LogCaptureFixture) -> None:
    """Every discovery config the real bridge publishes (captured from its broker), and then its
    retained states, through the running Home Assistant's own MQTT discovery: each config makes
    an entity (HA's discovery schemas accept it), nothing is logged as invalid, and the timestamp
    sensors of what has no value yet (the camera's last frame, the timelapse's last capture)
    are unknown, not an "Invalid state message"."""
    await mqtt_mock_entry()
    retained: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while not (any("broken" in t for t in retained if t.endswith("/config"))
               and json.loads(retained.get(f"{BASE_TOPIC}/front_door/status", "{}")).get("last_frame_at")):
        assert time.monotonic() < deadline, f"no discovery of both cameras, or no frame: {sorted(retained)}"
        retained = await hass.async_add_executor_job(real_bridge.retained)
    prefix = f"{DISCOVERY_PREFIX}/"
    configs = {t: p for t, p in retained.items() if t.startswith(prefix) and t.endswith("/config") and p}
    kinds = {t.split("/")[1] for t in configs}
    assert {"sensor", "binary_sensor", "camera"} <= kinds, kinds
    caplog.clear()
    for topic, payload in configs.items():  # HA's MQTT listens on its default prefix
        async_fire_mqtt_message(hass, "homeassistant/" + topic.removeprefix(prefix), payload)
    await hass.async_block_till_done()
    for topic, payload in retained.items():
        if not topic.startswith(prefix):
            async_fire_mqtt_message(hass, topic, payload)
    await hass.async_block_till_done()

    complaints = [f"{r.name}: {r.getMessage()}" for r in caplog.records
                  if r.levelno >= logging.WARNING and r.name.startswith("homeassistant.components.mqtt")]
    assert not complaints, "\n".join(complaints)
    registry = er.async_get(hass)
    made = {e.unique_id: e.entity_id for e in registry.entities.values() if e.platform == "mqtt"}
    unique_ids = {json.loads(p).get("unique_id") or json.loads(p).get("uniq_id"): t for t, p in configs.items()}
    assert set(unique_ids) == set(made), f"configs without an entity: {set(unique_ids) - set(made)}"
    stamps = [made[uid] for uid, t in unique_ids.items()
              if t.split("/")[1] == "sensor" and json.loads(configs[t]).get("device_class") == "timestamp"]
    never = {entity_id: hass.states.get(entity_id).state for entity_id in stamps
             if "broken" in entity_id or "porch" in entity_id}
    assert len(never) == 2 and set(never.values()) <= {"unknown", "unavailable"}, never
    [streaming] = [entity_id for entity_id in stamps if "front_door" in entity_id]
    assert dt_util.parse_datetime(hass.states.get(streaming).state) is not None, hass.states.get(streaming)
