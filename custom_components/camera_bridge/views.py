"""HTTP views proxying a bridge's videos to Home Assistant's frontend and media players (which
cannot send the bridge's API key): timelapse videos ``/api/camera_bridge/{entry_id}/timelapses/
{timelapse_id}/videos/{video_id}`` (MP4) and their ``.../thumbnail.jpg``, event clips
``/api/camera_bridge/{entry_id}/events/{event_id}/clip.mp4`` and the event's
``.../snapshot.jpg``. ``Range`` is passed through so players can seek. They need Home Assistant
authentication (a signed path works, which is what the media source hands out). Ids are checked
against slugs, digits and event ids (``<ms>-<n>``) before any bridge request."""

from __future__ import annotations

import re

import aiohttp
from aiohttp import web
from homeassistant.components.http import HomeAssistantView
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN

_SLUG = re.compile(r"^[a-z0-9_]+$")
_ID = re.compile(r"^[0-9]{1,18}$")
_EVENT_ID = re.compile(r"^[0-9]{1,16}-[0-9]{1,12}$")
#: headers of the bridge's answer passed on to the player
PASSED = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag")
CHUNK = 64 * 1024  #: bytes per write while streaming a video
_REGISTERED = f"{DOMAIN}_views"


def video_path(entry_id: str, timelapse_id: str, video_id: int | str, thumbnail: bool = False) -> str:
    """The proxy path of a video (or of its thumbnail)."""
    path = f"/api/{DOMAIN}/{entry_id}/timelapses/{timelapse_id}/videos/{video_id}"
    return path + "/thumbnail.jpg" if thumbnail else path


def clip_path(entry_id: str, event_id: str, snapshot: bool = False) -> str:
    """The proxy path of an event's clip (or of its snapshot)."""
    return f"/api/{DOMAIN}/{entry_id}/events/{event_id}/{'snapshot.jpg' if snapshot else 'clip.mp4'}"


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the views once (when the integration loads: a path the media source handed out
    before a restart must play without browsing the media source first)."""
    if hass.data.get(_REGISTERED):
        return
    hass.data[_REGISTERED] = True
    for view in (TimelapseVideoView, TimelapseThumbnailView, EventClipView, EventSnapshotView):
        hass.http.register_view(view(hass))


class _Proxy(HomeAssistantView):
    requires_auth = True

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass  # not request.app["hass"]: the app key changed type in later HA versions

    async def _proxy(self, request: web.Request, entry_id: str, path: str | None) -> web.StreamResponse:
        """Stream the bridge's answer to ``GET path`` (None: an id that failed its check, 404)."""
        hass = self.hass
        entry = hass.config_entries.async_get_entry(entry_id)
        coordinator = getattr(entry, "runtime_data", None) if entry and entry.domain == DOMAIN else None
        if coordinator is None or path is None:
            return web.Response(status=404)
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


def _video(timelapse_id: str, video_id: str, suffix: str) -> str | None:
    if not _SLUG.match(timelapse_id) or not _ID.match(video_id):
        return None
    return f"/api/timelapses/{timelapse_id}/videos/{video_id}{suffix}"


def _event(event_id: str, name: str) -> str | None:
    return f"/api/events/{event_id}/{name}" if _EVENT_ID.match(event_id) else None


class TimelapseVideoView(_Proxy):
    """A timelapse video (MP4)."""

    url = "/api/camera_bridge/{entry_id}/timelapses/{timelapse_id}/videos/{video_id}"
    name = "api:camera_bridge:timelapse_video"

    async def get(self, request: web.Request, entry_id: str, timelapse_id: str, video_id: str) -> web.StreamResponse:
        return await self._proxy(request, entry_id, _video(timelapse_id, video_id, ""))


class TimelapseThumbnailView(_Proxy):
    """A timelapse video's thumbnail (JPEG)."""

    url = "/api/camera_bridge/{entry_id}/timelapses/{timelapse_id}/videos/{video_id}/thumbnail.jpg"
    name = "api:camera_bridge:timelapse_video_thumbnail"

    async def get(self, request: web.Request, entry_id: str, timelapse_id: str, video_id: str) -> web.StreamResponse:
        return await self._proxy(request, entry_id, _video(timelapse_id, video_id, "/thumbnail.jpg"))


class EventClipView(_Proxy):
    """A detection event's clip (MP4)."""

    url = "/api/camera_bridge/{entry_id}/events/{event_id}/clip.mp4"
    name = "api:camera_bridge:event_clip"

    async def get(self, request: web.Request, entry_id: str, event_id: str) -> web.StreamResponse:
        return await self._proxy(request, entry_id, _event(event_id, "clip.mp4"))


class EventSnapshotView(_Proxy):
    """A detection event's snapshot (JPEG, full size, box drawn): the clip's thumbnail."""

    url = "/api/camera_bridge/{entry_id}/events/{event_id}/snapshot.jpg"
    name = "api:camera_bridge:event_snapshot"

    async def get(self, request: web.Request, entry_id: str, event_id: str) -> web.StreamResponse:
        return await self._proxy(request, entry_id, _event(event_id, "snapshot.jpg"))
