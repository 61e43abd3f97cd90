"""HTTP views proxying a bridge's timelapse videos and thumbnails to Home Assistant's frontend
and media players (which cannot send the bridge's API key): ``/api/camera_bridge/{entry_id}/
timelapses/{timelapse_id}/videos/{video_id}`` (MP4, ``Range`` passed through so players can
seek) and ``.../thumbnail.jpg``. They need Home Assistant authentication (a signed path works,
which is what the media source hands out). Ids are checked against slugs and digits before any
bridge request."""

from __future__ import annotations

import re

import aiohttp
from aiohttp import web
from homeassistant.components.http import HomeAssistantView
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN

_SLUG = re.compile(r"^[a-z0-9_]+$")
_ID = re.compile(r"^[0-9]{1,18}$")
#: headers of the bridge's answer passed on to the player
PASSED = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag")
CHUNK = 64 * 1024  #: bytes per write while streaming a video
_REGISTERED = f"{DOMAIN}_views"


def video_path(entry_id: str, timelapse_id: str, video_id: int | str, thumbnail: bool = False) -> str:
    """The proxy path of a video (or of its thumbnail)."""
    path = f"/api/{DOMAIN}/{entry_id}/timelapses/{timelapse_id}/videos/{video_id}"
    return path + "/thumbnail.jpg" if thumbnail else path


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the views once (when the integration loads: a path the media source handed out
    before a restart must play without browsing the media source first)."""
    if hass.data.get(_REGISTERED):
        return
    hass.data[_REGISTERED] = True
    hass.http.register_view(TimelapseVideoView(hass))
    hass.http.register_view(TimelapseThumbnailView(hass))


class _Proxy(HomeAssistantView):
    requires_auth = True

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass  # not request.app["hass"]: the app key changed type in later HA versions

    async def _proxy(
        self, request: web.Request, entry_id: str, timelapse_id: str, video_id: str, suffix: str
    ) -> web.StreamResponse:
        hass = self.hass
        entry = hass.config_entries.async_get_entry(entry_id)
        coordinator = getattr(entry, "runtime_data", None) if entry and entry.domain == DOMAIN else None
        if coordinator is None or not _SLUG.match(timelapse_id) or not _ID.match(video_id):
            return web.Response(status=404)
        path = f"/api/timelapses/{timelapse_id}/videos/{video_id}{suffix}"
        headers = {"Range": request.headers["Range"]} if "Range" in request.headers else None
        try:
            async with coordinator.client.open(path, headers) as upstream:
                if upstream.status >= 400:
                    return web.Response(status=404 if upstream.status == 404 else 502)
                response = web.StreamResponse(
                    status=upstream.status, headers={h: upstream.headers[h] for h in PASSED if h in upstream.headers}
                )
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, TimeoutError):
            return web.Response(status=502)


class TimelapseVideoView(_Proxy):
    """A timelapse video (MP4)."""

    url = "/api/camera_bridge/{entry_id}/timelapses/{timelapse_id}/videos/{video_id}"
    name = "api:camera_bridge:timelapse_video"

    async def get(self, request: web.Request, entry_id: str, timelapse_id: str, video_id: str) -> web.StreamResponse:
        return await self._proxy(request, entry_id, timelapse_id, video_id, "")


class TimelapseThumbnailView(_Proxy):
    """A timelapse video's thumbnail (JPEG)."""

    url = "/api/camera_bridge/{entry_id}/timelapses/{timelapse_id}/videos/{video_id}/thumbnail.jpg"
    name = "api:camera_bridge:timelapse_video_thumbnail"

    async def get(self, request: web.Request, entry_id: str, timelapse_id: str, video_id: str) -> web.StreamResponse:
        return await self._proxy(request, entry_id, timelapse_id, video_id, "/thumbnail.jpg")
