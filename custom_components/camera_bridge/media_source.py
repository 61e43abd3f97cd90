"""Media source: timelapse videos of every loaded bridge, browsable and playable in Home
Assistant's media browser.

Identifiers: ``{entry_id}`` (a bridge: its timelapses), ``{entry_id}/{timelapse_id}`` (its
videos, newest first), ``{entry_id}/{timelapse_id}/{video_id}`` (a video: resolved to the proxy
view of views.py, which the media source signs for the player).
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

from .api import CameraBridgeApiError
from .const import DOMAIN
from .coordinator import CameraBridgeCoordinator
from .views import video_path


async def async_get_media_source(hass: HomeAssistant) -> CameraBridgeMediaSource:
    """The integration's media source (its video paths are served by views.py's views,
    registered when the integration loads)."""
    return CameraBridgeMediaSource(hass)


class CameraBridgeMediaSource(MediaSource):
    """Timelapse videos, per bridge and timelapse."""

    name = "Camera Bridge timelapses"

    def __init__(self, hass: HomeAssistant) -> None:
        super().__init__(DOMAIN)
        self.hass = hass

    def _coordinators(self) -> dict[str, tuple[str, CameraBridgeCoordinator]]:
        return {
            entry.entry_id: (entry.title, entry.runtime_data)
            for entry in self.hass.config_entries.async_entries(DOMAIN)
            if getattr(entry, "runtime_data", None) is not None
        }

    def _parse(self, identifier: str | None) -> tuple[str | None, str | None, str | None]:
        parts = (identifier or "").split("/") if identifier else []
        if len(parts) > 3:
            raise _unresolvable("unknown_media", identifier=str(identifier))
        entry_id, tl_id, video_id = [*parts, None, None, None][:3]
        return entry_id, tl_id, video_id

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """A video's proxy URL (the media source signs it)."""
        entry_id, tl_id, video_id = self._parse(item.identifier)
        if entry_id not in self._coordinators() or not tl_id or not video_id:
            raise _unresolvable("unknown_media", identifier=str(item.identifier))
        return PlayMedia(video_path(entry_id, tl_id, video_id), "video/mp4")

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """The bridges, a bridge's timelapses, or a timelapse's videos."""
        entry_id, tl_id, _video = self._parse(item.identifier)
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
        if tl_id is None:
            return self._folder(
                entry_id,
                title,
                [self._folder(f"{entry_id}/{tl.id}", tl.name, None) for tl in coordinator.data.timelapses.values()],
                MediaClass.DIRECTORY,
            )
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
