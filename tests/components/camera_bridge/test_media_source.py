"""Timelapse videos and event clips in the media browser, and the proxy views that play them."""

from __future__ import annotations

import pytest

from custom_components.camera_bridge.const import DOMAIN
from homeassistant.components import media_source
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .conftest import JPEG, FakeBridge


@pytest.fixture
async def with_media_source(hass: HomeAssistant, init_integration) -> None:
    assert await async_setup_component(hass, "media_source", {})
    await hass.async_block_till_done()


async def test_browse_and_resolve(hass: HomeAssistant, init_integration, with_media_source) -> None:
    entry_id = init_integration.entry_id
    root = await media_source.async_browse_media(hass, f"media-source://{DOMAIN}")
    assert [c.title for c in root.children] == ["Camera Bridge 192.0.2.10"]
    bridge = await media_source.async_browse_media(hass, root.children[0].media_content_id)
    assert [(c.title, c.can_expand) for c in bridge.children] == [("Garden", True), ("Event clips", True)]
    garden = await media_source.async_browse_media(hass, bridge.children[0].media_content_id)
    [video] = garden.children
    assert video.title == "2026-11-21 12:00 (10 s)" and video.can_play
    assert video.thumbnail == f"/api/camera_bridge/{entry_id}/timelapses/garden/videos/3/thumbnail.jpg"

    played = await media_source.async_resolve_media(hass, video.media_content_id, None)
    assert played.url == f"/api/camera_bridge/{entry_id}/timelapses/garden/videos/3"
    assert played.mime_type == "video/mp4"

    with pytest.raises(media_source.Unresolvable):
        await media_source.async_browse_media(hass, f"media-source://{DOMAIN}/nope")
    with pytest.raises(media_source.Unresolvable):
        await media_source.async_resolve_media(hass, f"media-source://{DOMAIN}/{entry_id}/garden", None)


async def test_proxy_views(hass: HomeAssistant, init_integration, with_media_source, hass_client,
                           hass_client_no_auth, fake_bridge: FakeBridge) -> None:
    entry_id = init_integration.entry_id
    base = f"/api/camera_bridge/{entry_id}/timelapses/garden/videos/3"
    client = await hass_client()
    resp = await client.get(base)
    assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
    assert await resp.read() == fake_bridge.files["/api/timelapses/garden/videos/3"]
    resp = await client.get(base, headers={"Range": "bytes=4-11"})
    assert resp.status == 206 and await resp.read() == b"ftypmp42"
    assert resp.headers["Content-Range"].startswith("bytes 4-11/")
    resp = await client.get(base + "/thumbnail.jpg")
    assert resp.status == 200 and await resp.read() == JPEG + b"-video"

    for bad in (f"/api/camera_bridge/{entry_id}/timelapses/garden/videos/9",
                f"/api/camera_bridge/{entry_id}/timelapses/Garden!/videos/3",
                f"/api/camera_bridge/{entry_id}/timelapses/garden/videos/3x",
                "/api/camera_bridge/not-an-entry/timelapses/garden/videos/3"):
        assert (await client.get(bad)).status == 404, bad
    opened = [c for c in fake_bridge.calls if c[0] == "open"]
    assert len(opened) == 4  # the bad ids never reached the bridge but the missing video

    assert (await (await hass_client_no_auth()).get(base)).status == 401


async def test_event_clips_per_camera(hass: HomeAssistant, init_integration, with_media_source,
                                      fake_bridge: FakeBridge) -> None:
    entry_id = init_integration.entry_id
    folder = await media_source.async_browse_media(hass, f"media-source://{DOMAIN}/{entry_id}/event-clips")
    # only the cameras with detection (the garage has none)
    assert [(c.title, c.can_expand, c.can_play) for c in folder.children] == [("Front door", True, False)]
    camera = await media_source.async_browse_media(hass, folder.children[0].media_content_id)
    assert camera.title == "Front door"
    local = dt_util.as_local(dt_util.parse_datetime("2026-11-21T08:10:20.500+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    newer = dt_util.as_local(dt_util.parse_datetime("2026-11-21T08:10:30.000+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    # newest first, as the bridge lists them; the label when the bridge still knows the event
    assert [c.title for c in camera.children] == [newer, f"{local} Person"]
    assert all(c.can_play and not c.can_expand and c.media_content_type == "video/mp4" for c in camera.children)
    older = camera.children[1]
    assert older.thumbnail == f"/api/camera_bridge/{entry_id}/events/1795248620500-7/snapshot.jpg"
    assert camera.children[0].thumbnail is None  # no snapshot kept for that event

    played = await media_source.async_resolve_media(hass, older.media_content_id, None)
    assert played.url == f"/api/camera_bridge/{entry_id}/events/1795248620500-7/clip.mp4"
    assert played.mime_type == "video/mp4"

    for bad in (f"{entry_id}/event-clips", f"{entry_id}/event-clips/front_door",
                f"{entry_id}/event-clips/front_door/1-2/x"):
        with pytest.raises(media_source.Unresolvable):
            await media_source.async_resolve_media(hass, f"media-source://{DOMAIN}/{bad}", None)
    with pytest.raises(media_source.Unresolvable):  # no such camera
        await media_source.async_browse_media(hass, f"media-source://{DOMAIN}/{entry_id}/event-clips/porch")

    fake_bridge.reachable = False  # the bridge cannot list them: a translated error, not a crash
    with pytest.raises(media_source.Unresolvable, match="front_door|Front door"):
        await media_source.async_browse_media(hass, f"media-source://{DOMAIN}/{entry_id}/event-clips/front_door")


async def test_no_event_clips_folder_without_detection(hass: HomeAssistant, fake_bridge: FakeBridge,
                                                       mock_config_entry) -> None:
    fake_bridge.cams["front_door"].pop("detect")
    fake_bridge.detect = None
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert await async_setup_component(hass, "media_source", {})
    bridge = await media_source.async_browse_media(hass, f"media-source://{DOMAIN}/{mock_config_entry.entry_id}")
    assert [c.title for c in bridge.children] == ["Garden"]


async def test_event_proxy_views(hass: HomeAssistant, init_integration, with_media_source, hass_client,
                                 hass_client_no_auth, fake_bridge: FakeBridge) -> None:
    entry_id = init_integration.entry_id
    base = f"/api/camera_bridge/{entry_id}/events/1795248620500-7"
    client = await hass_client()
    resp = await client.get(base + "/clip.mp4")
    assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
    assert await resp.read() == fake_bridge.files["/api/events/1795248620500-7/clip.mp4"]
    resp = await client.get(base + "/clip.mp4", headers={"Range": "bytes=4-11"})
    assert resp.status == 206 and await resp.read() == b"ftypisom"
    resp = await client.get(base + "/snapshot.jpg")
    assert resp.status == 200 and await resp.read() == JPEG + b"-event"
    before = len([c for c in fake_bridge.calls if c[0] == "open"])
    for bad in (f"/api/camera_bridge/{entry_id}/events/1795248620500/clip.mp4",
                f"/api/camera_bridge/{entry_id}/events/..%2F..%2Fapi%2Fbridge/clip.mp4",
                "/api/camera_bridge/not-an-entry/events/1795248620500-7/clip.mp4"):
        assert (await client.get(bad)).status in (400, 404), bad  # 400: HA's own filter of ".."
    assert len([c for c in fake_bridge.calls if c[0] == "open"]) == before  # never reached the bridge
    resp = await client.get(f"/api/camera_bridge/{entry_id}/events/1795248630000-12/snapshot.jpg")
    assert resp.status == 404  # the bridge has no snapshot of that event
    assert (await (await hass_client_no_auth()).get(base + "/clip.mp4")).status == 401
