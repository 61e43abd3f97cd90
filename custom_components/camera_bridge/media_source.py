"""Media source: timelapse videos and event clips of every loaded bridge, browsable and playable
in Home Assistant's media browser.

Identifiers: ``{entry_id}`` (a bridge: its timelapses, and ``Event clips`` when a camera has
detection), ``{entry_id}/{timelapse_id}`` (its videos, newest first),
``{entry_id}/{timelapse_id}/{video_id}`` (a video), ``{entry_id}/event-clips`` (the cameras
with detection), ``{entry_id}/event-clips/{camera_id}`` (its clips, newest first: the bridge's
``GET /api/cameras/{id}/clips``), ``{entry_id}/event-clips/{camera_id}/{event_id}`` (a clip).
A video or clip resolves to the proxy view of views.py, which the media source signs for the
player. ``event-clips`` is no timelapse id (those are slugs, without ``-``).
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.media_player import MediaClass, MediaType
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .api import CameraBridgeApiError
from .const import DOMAIN
from .coordinator import CameraBridgeCoordinator
from .views import clip_path, video_path

#: the identifier segment of a bridge's event clips (no timelapse id has a ``-``)
CLIPS = "event-clips"


async def async_get_media_source(hass: HomeAssistant) -> CameraBridgeMediaSource:
    """The integration's media source (its video paths are served by views.py's views,
    registered when the integration loads)."""
    return CameraBridgeMediaSource(hass)


class CameraBridgeMediaSource(MediaSource):
    """Timelapse videos per bridge and timelapse; event clips per bridge and camera."""

    name = "Camera Bridge"

    def __init__(self, hass: HomeAssistant) -> None:
        super().__init__(DOMAIN)
        self.hass = hass

    def _coordinators(self) -> dict[str, tuple[str, CameraBridgeCoordinator]]:
        return {
            entry.entry_id: (entry.title, entry.runtime_data)
            for entry in self.hass.config_entries.async_entries(DOMAIN)
            if getattr(entry, "runtime_data", None) is not None
        }

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """A video's or a clip's proxy URL (the media source signs it)."""
        entry_id, folder, media_id = self._parse(item.identifier)
        if entry_id not in self._coordinators() or not folder or not media_id:
            raise _unresolvable("unknown_media", identifier=str(item.identifier))
        if folder.startswith(CLIPS + "/"):
            return PlayMedia(clip_path(entry_id, media_id), "video/mp4")
        return PlayMedia(video_path(entry_id, folder, media_id), "video/mp4")

    def _parse(self, identifier: str | None) -> tuple[str | None, str | None, str | None]:
        """``(entry id, folder, media id)``: folder a timelapse id, ``event-clips`` or
        ``event-clips/{camera}``; media a video id or an event id."""
        parts = (identifier or "").split("/") if identifier else []
        if parts[1:2] == [CLIPS] and len(parts) >= 3:  # event-clips/{camera}[/{event}]
            parts = [parts[0], f"{CLIPS}/{parts[2]}", *parts[3:]]
        if len(parts) > 3:
            raise _unresolvable("unknown_media", identifier=str(identifier))
        entry_id, tl_id, video_id = [*parts, None, None, None][:3]
        return entry_id, tl_id, video_id

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """The bridges, a bridge's timelapses (and event clips), a timelapse's videos, the
        cameras with detection, or a camera's clips."""
        entry_id, folder, _media = self._parse(item.identifier)
        coordinators = self._coordinators()
        if entry_id is None:
            return self._folder(
                None,
                self.name,
                [self._folder(eid, title, None) for eid, (title, _c) in coordinators.items()],
                MediaClass.DIRECTORY,
            )
        if entry_id not in coordinators:
            raise _unresolvable("bridge_not_loaded", entry_id=entry_id)
        title, coordinator = coordinators[entry_id]
        detecting = {cam_id: cam for cam_id, cam in coordinator.data.cameras.items() if cam.detection_labels}
        if folder is None:
            timelapses = coordinator.data.timelapses.values()
            children = [self._folder(f"{entry_id}/{tl.id}", tl.name, None) for tl in timelapses]
            if detecting:
                children.append(self._folder(f"{entry_id}/{CLIPS}", "Event clips", None))
            return self._folder(entry_id, title, children, MediaClass.DIRECTORY)
        if folder == CLIPS:
            cameras = [self._folder(f"{entry_id}/{CLIPS}/{cid}", cam.name, None) for cid, cam in detecting.items()]
            return self._folder(f"{entry_id}/{CLIPS}", "Event clips", cameras, MediaClass.DIRECTORY)
        if folder.startswith(CLIPS + "/"):
            return await self._clips(entry_id, coordinator, folder.split("/", 1)[1])
        return await self._videos(entry_id, coordinator, folder)

    async def _videos(self, entry_id: str, coordinator: CameraBridgeCoordinator, tl_id: str) -> BrowseMediaSource:
        try:
            videos = await coordinator.client.timelapse_videos(tl_id)
        except CameraBridgeApiError as err:
            raise _unresolvable("no_videos", timelapse=tl_id, error=str(err)) from err
        timelapse = coordinator.data.timelapses.get(tl_id)
        children = [
            BrowseMediaSource(
                domain=DOMAIN,
                identifier=f"{entry_id}/{tl_id}/{video['id']}",
                media_class=MediaClass.VIDEO,
                media_content_type="video/mp4",
                title=_video_title(video),
                can_play=True,
                can_expand=False,
                thumbnail=video_path(entry_id, tl_id, video["id"], thumbnail=True)
                if video.get("thumbnail_url")
                else None,
            )
            for video in sorted(videos, key=lambda v: v.get("created_at") or "", reverse=True)
        ]
        return self._folder(f"{entry_id}/{tl_id}", timelapse.name if timelapse else tl_id, children, MediaClass.VIDEO)

    async def _clips(self, entry_id: str, coordinator: CameraBridgeCoordinator, cam_id: str) -> BrowseMediaSource:
        camera = coordinator.data.cameras.get(cam_id)
        if camera is None:
            raise _unresolvable("unknown_media", identifier=f"{entry_id}/{CLIPS}/{cam_id}")
        try:
            clips = await coordinator.client.event_clips(cam_id)
        except CameraBridgeApiError as err:
            raise _unresolvable("no_clips", camera=camera.name, error=str(err)) from err
        children = [
            BrowseMediaSource(
                domain=DOMAIN,
                identifier=f"{entry_id}/{CLIPS}/{cam_id}/{clip['id']}",
                media_class=MediaClass.VIDEO,
                media_content_type="video/mp4",
                title=_clip_title(clip),
                can_play=True,
                can_expand=False,
                thumbnail=clip_path(entry_id, clip["id"], snapshot=True) if clip.get("snapshot_url") else None,
            )
            for clip in clips  # newest first, as the bridge lists them
        ]
        return self._folder(f"{entry_id}/{CLIPS}/{cam_id}", camera.name, children, MediaClass.VIDEO)

    @staticmethod
    def _folder(
        identifier: str | None,
        title: str,
        children: list[BrowseMediaSource] | None,
        children_class: MediaClass | None = None,
    ) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=identifier,
            media_class=MediaClass.DIRECTORY,
            media_content_type=MediaType.VIDEO,
            title=title,
            can_play=False,
            can_expand=True,
            children=children,
            children_media_class=children_class,
        )


def _unresolvable(key: str, **placeholders: str) -> Unresolvable:
    """A translated Unresolvable (``exceptions.{key}`` of strings.json)."""
    return Unresolvable(
        f"{key}: {placeholders}", translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _video_title(video: dict[str, Any]) -> str:
    """``2026-11-21 12:00 (10 s)`` from the video's creation time and duration."""
    created = str(video.get("created_at") or "")[:16].replace("T", " ")
    duration = video.get("duration")
    return f"{created} ({duration:.0f} s)" if isinstance(duration, (int, float)) else created or str(video["id"])


def _clip_title(clip: dict[str, Any]) -> str:
    """``2026-11-28 06:51:27 Person`` from the event's start (local time) and label."""
    started = dt_util.parse_datetime(str(clip.get("started_at") or ""))
    when = dt_util.as_local(started).strftime("%Y-%m-%d %H:%M:%S") if started else str(clip["id"])
    label = clip.get("label")
    return f"{when} {str(label).replace('_', ' ').capitalize()}" if label else when
