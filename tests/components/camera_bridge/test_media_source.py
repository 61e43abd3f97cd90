"""Timelapse videos in the media browser, and the proxy views that play them."""

from __future__ import annotations

import pytest

from custom_components.camera_bridge.const import DOMAIN
from homeassistant.components import media_source
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

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
    assert [(c.title, c.can_expand) for c in bridge.children] == [("Garden", True)]
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
