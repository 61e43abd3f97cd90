"""The bridge's state in Home Assistant: loaded in full once, then kept current by the bridge's
push channel (WebSocket JSON-RPC event notifications), with polling while that channel is down.

- Setup: :meth:`CameraBridgeCoordinator.async_config_entry_first_refresh` loads the bridge and
  its cameras (``ConfigEntryNotReady`` when unreachable, reauth when the key is refused).
- Push: a background task of the config entry holds ``events.subscribe`` open; each
  ``camera.status`` event updates one camera (no request), ``camera.removed`` drops it, an
  unknown camera or a (re)subscription reloads everything (events are not resumed), other events
  (detection, timelapse, ...) are fired on the HA bus as ``camera_bridge_event``.
- Fallback: while the channel is down the coordinator polls every ``POLL_INTERVAL``; a failed
  poll makes every entity unavailable until the bridge answers again. While it is up, a full
  reload every ``STATS_INTERVAL`` refreshes what changes without events (frame rate, last frame
  time, MediaMTX readers).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .api import (
    SUBSCRIBED,
    BridgeEvent,
    BridgeInfo,
    Camera,
    CameraBridgeApiError,
    CameraBridgeAuthError,
    CameraBridgeClient,
    Timelapse,
)
from .compat import coordinator_entry, update_failed
from .const import DOMAIN, EVENT_BRIDGE, LINK_TTL, POLL_INTERVAL, PUSH_RETRY_MAX, STATS_INTERVAL
from .detection import DETECTION_EVENT, DETECTION_EVENTS, Detection

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class BridgeState:
    """What the entities show: the bridge (``info``) and its cameras by id."""

    info: BridgeInfo
    cameras: dict[str, Camera] = field(default_factory=dict)
    timelapses: dict[str, Timelapse] = field(default_factory=dict)
    #: ``GET /health/mediamtx`` (``status``: available, unavailable, disabled); None without
    mediamtx: dict[str, Any] | None = None


class CameraBridgeCoordinator(DataUpdateCoordinator[BridgeState]):
    """Holds a :class:`BridgeState`; ``push_connected`` tells whether the WebSocket is up."""

    def __init__(self, hass: HomeAssistant, client: CameraBridgeClient, entry: ConfigEntry) -> None:
        super().__init__(
            hass, _LOGGER, name=f"{DOMAIN} {entry.title}", update_interval=POLL_INTERVAL, **coordinator_entry(entry)
        )
        self.client = client
        #: the bridge's device (registered at setup, before the platforms link devices to it)
        self.bridge_device: DeviceEntry | None = None
        self.push_connected = False
        self._push_warned = False
        #: camera id -> what detection events said (reset when the push channel reconnects)
        self.detections: dict[str, Detection] = {}
        #: an event's media path -> (its signed link, monotonic time to make a new one)
        self._links: dict[str, tuple[str, float]] = {}
        self._links_refused = False  #: the key may not make signed links

    async def _async_update_data(self) -> BridgeState:
        try:
            info, cameras, timelapses, mediamtx = await asyncio.gather(
                self.client.bridge(), self.client.cameras(), self.client.timelapses(), self.client.mediamtx_health()
            )
            with_detection = [cam.id for cam in cameras if cam.detection_labels]
            views = await asyncio.gather(*(self.client.detection(cam_id) for cam_id in with_detection))
        except CameraBridgeAuthError as err:
            raise ConfigEntryAuthFailed(
                str(err),
                translation_domain=DOMAIN,
                translation_key="auth_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        except CameraBridgeApiError as err:
            raise update_failed(f"bridge not reachable: {err}", DOMAIN, "unreachable", {"error": str(err)}) from err
        now = time.time()
        for cam_id, view in zip(with_detection, views, strict=True):
            if view is not None:  # else: an older bridge, known from events only
                self.detections[cam_id] = Detection.from_api(view, now)
        return BridgeState(info, {cam.id: cam for cam in cameras}, {tl.id: tl for tl in timelapses}, mediamtx)

    def start_push(self, entry: CameraBridgeConfigEntry) -> None:
        """Start the push channel as a background task of ``entry`` (cancelled at unload)."""
        entry.async_create_background_task(self.hass, self._push_loop(), f"{DOMAIN}.push {entry.title}")

    async def _push_loop(self) -> None:
        delay = 1.0
        while True:
            try:
                async for event in self.client.events():
                    delay = 1.0
                    await self._on_event(event)
                    if event.missed:  # the bridge dropped events for us: reload
                        await self.async_refresh()
            except CameraBridgeApiError as err:
                if self.push_connected or not self._push_warned:
                    _LOGGER.warning(
                        "%s: push channel down (%s); polling every %s s until it is back",
                        self.name,
                        err,
                        POLL_INTERVAL.total_seconds(),
                    )
                    self._push_warned = True
                else:
                    _LOGGER.debug("%s: push channel still down: %s", self.name, err)
            except Exception:  # a malformed event must not end the push channel for good
                _LOGGER.exception("%s: push channel failed; reconnecting", self.name)
            if self.push_connected:
                self.push_connected = False
                self.update_interval = POLL_INTERVAL
                await self.async_refresh()  # unreachable now? then entities go unavailable
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, PUSH_RETRY_MAX)

    async def _on_event(self, event: BridgeEvent) -> None:
        """Apply one pushed event (a handler of :data:`EVENT_HANDLERS`, by its type), then fire
        it on HA's bus unless it is a plain camera status change."""
        if event.type == SUBSCRIBED:
            _LOGGER.debug("%s: push channel connected", self.name)
            self.push_connected = True
            self._push_warned = False
            self.update_interval = STATS_INTERVAL  # states are pushed from now on
            self.detections = {}  # what happened while disconnected is unknown
            await self.async_refresh()  # events are not resumed: reload what changed meanwhile
            return
        handler = EVENT_HANDLERS.get(event.type)
        if handler is not None and self.data is not None:
            await handler(self, self.data, event)
        if event.type not in NOT_FIRED:
            await self._fire(event)

    async def _camera_status(self, state: BridgeState, event: BridgeEvent) -> None:
        """``camera.status``: one camera's new status (an unknown camera: reload, it was added)."""
        cam_id = str(event.data.get("camera"))
        camera = state.cameras.get(cam_id)
        if camera is None:
            await self.async_refresh()
            return
        cameras = {**state.cameras, cam_id: camera.with_status(event.data)}
        info = replace(
            state.info,
            raw={**state.info.raw, "cameras": {**state.info.raw.get("cameras", {}), cam_id: event.data.get("state")}},
        )
        self.async_set_updated_data(replace(state, info=info, cameras=cameras))

    async def _camera_enabled(self, state: BridgeState, event: BridgeEvent) -> None:
        """``camera.enabled``: a camera switched on or off."""
        camera = state.cameras.get(str(event.data.get("camera")))
        if camera is not None:
            self.set_camera(camera.with_status({"enabled": bool(event.data.get("enabled"))}))

    async def _camera_removed(self, state: BridgeState, event: BridgeEvent) -> None:
        """``camera.removed``: drop the camera (its device goes, see devices.py)."""
        cam_id = event.data.get("camera")
        self.async_set_updated_data(replace(state, cameras={k: v for k, v in state.cameras.items() if k != cam_id}))

    async def _camera_recording(self, state: BridgeState, event: BridgeEvent) -> None:
        """``camera.recording``: MediaMTX recording of a camera switched."""
        camera = state.cameras.get(str(event.data.get("camera")))
        if camera is not None:
            media = {**(camera.raw.get("mediamtx") or {}), "recording": bool(event.data.get("recording"))}
            self.set_camera(camera.with_status({"mediamtx": media}))

    async def _mediamtx_availability(self, state: BridgeState, event: BridgeEvent) -> None:
        """``mediamtx.availability``: the restream server came or went."""
        if state.mediamtx is not None:
            status = "available" if event.data.get("available") else "unavailable"
            self.async_set_updated_data(
                replace(state, mediamtx={**state.mediamtx, "status": status, "error": event.data.get("error")})
            )

    async def _detection(self, state: BridgeState, event: BridgeEvent) -> None:
        """``detection.*``: motion, tracked objects, the detection switch of one camera."""
        cam_id = event.data.get("camera")
        if isinstance(cam_id, str):
            self.detections.setdefault(cam_id, Detection()).apply(event.type, event.data, time.time())
            self.async_update_listeners()

    async def _timelapse_added(self, state: BridgeState, event: BridgeEvent) -> None:
        """``timelapse.added``: reload (the event carries only the id)."""
        await self.async_refresh()

    async def _timelapse_removed(self, state: BridgeState, event: BridgeEvent) -> None:
        """``timelapse.removed``: drop it."""
        tl_id = event.data.get("timelapse")
        self.async_set_updated_data(
            replace(state, timelapses={k: v for k, v in state.timelapses.items() if k != tl_id})
        )

    async def _timelapse_status(self, state: BridgeState, event: BridgeEvent) -> None:
        """``timelapse.status`` (the compact status, ``id``): update it; unknown: reload."""
        current = state.timelapses.get(str(event.data.get("id")))
        if current is None:
            await self.async_refresh()
        else:
            self.set_timelapse(current.updated(event.data))

    async def _timelapse_render(self, state: BridgeState, event: BridgeEvent) -> None:
        """``timelapse.render`` (``timelapse`` + the render's fields): its render progress."""
        current = state.timelapses.get(str(event.data.get("timelapse")))
        if current is not None:
            self.set_timelapse(current.updated({"render": {k: v for k, v in event.data.items() if k != "timelapse"}}))

    async def _timelapse_frame(self, state: BridgeState, event: BridgeEvent) -> None:
        """``timelapse.frame``: a kept frame is the latest (its count comes with the status)."""
        current = state.timelapses.get(str(event.data.get("timelapse")))
        if current is not None and event.data.get("kept"):
            self.set_timelapse(current.updated({"last_frame": event.data.get("frame")}))

    def set_camera(self, camera: Camera) -> None:
        """Take a camera as an action's answer (or an event) gave it."""
        if self.data is not None:
            self.async_set_updated_data(replace(self.data, cameras={**self.data.cameras, camera.id: camera}))

    def set_timelapse(self, timelapse: Timelapse) -> None:
        """Take a timelapse as an action's answer returned it."""
        if self.data is not None:
            self.async_set_updated_data(
                replace(self.data, timelapses={**self.data.timelapses, timelapse.id: timelapse})
            )

    async def _fire(self, event: BridgeEvent) -> None:
        """``camera_bridge_event`` on HA's bus: the event's data (a detection's payload lifted
        to the top level, its media paths made signed links: :meth:`_signed`) with ``event``
        (its type) and ``bridge_id``."""
        state = self.data
        data = dict(event.data)
        if event.type == DETECTION_EVENT and isinstance(data.get("event"), dict):
            data = {**data.pop("event"), **data}
            for field, kind in (("snapshot_url", "event_snapshot"), ("clip_url", "event_clip")):
                if isinstance(data.get(field), str):
                    data[field] = await self._signed(data[field], kind)
        self.hass.bus.async_fire(
            EVENT_BRIDGE, {**data, "event": event.type, "bridge_id": state.info.id if state else None}
        )

    async def _signed(self, path: str, kind: str) -> str:
        """A signed absolute link (``POST /api/links``, valid :data:`LINK_TTL` seconds) for an
        event's media ``path`` (``/api/events/{id}/snapshot.jpg`` or ``clip.mp4``), so a
        notification can show it without the API key; made once per path (kept for half its
        validity). ``path`` itself when the bridge makes none: a key without the operator role
        (warned once; then no more tries), an older bridge, an event already gone."""
        found = _EVENT_MEDIA.match(path)
        if found is None or self._links_refused:
            return path
        now = time.monotonic()
        cached = self._links.get(path)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            url = await self.client.signed_link(event=found.group(1), kind=kind, expires_in=LINK_TTL)
        except CameraBridgeAuthError as err:
            _LOGGER.warning(
                "%s: the bridge makes no signed links for this API key (%s): event snapshot_url and clip_url "
                "stay bridge paths, which need the key; give the key the operator role for notification images",
                self.name,
                err,
            )
            self._links_refused = True
            return path
        except CameraBridgeApiError as err:
            _LOGGER.debug("%s: no signed link for %s: %s", self.name, path, err)
            return path
        self._links[path] = (url, now + LINK_TTL / 2)
        while len(self._links) > LINKS_KEPT:
            self._links.pop(next(iter(self._links)))
        return url


#: an event's media path on the bridge
_EVENT_MEDIA = re.compile(r"^/api/events/([0-9]{1,16}-[0-9]{1,12})/(?:snapshot\.jpg|clip\.mp4)$")
#: signed links kept (the newest events' media)
LINKS_KEPT = 64

#: the coordinator's handler of each pushed event type (others are only fired on the bus)
EVENT_HANDLERS: dict[str, Callable[[CameraBridgeCoordinator, BridgeState, BridgeEvent], Awaitable[None]]] = {
    "camera.status": CameraBridgeCoordinator._camera_status,
    "camera.enabled": CameraBridgeCoordinator._camera_enabled,
    "camera.removed": CameraBridgeCoordinator._camera_removed,
    "camera.recording": CameraBridgeCoordinator._camera_recording,
    "mediamtx.availability": CameraBridgeCoordinator._mediamtx_availability,
    "timelapse.added": CameraBridgeCoordinator._timelapse_added,
    "timelapse.removed": CameraBridgeCoordinator._timelapse_removed,
    "timelapse.status": CameraBridgeCoordinator._timelapse_status,
    "timelapse.render": CameraBridgeCoordinator._timelapse_render,
    "timelapse.frame": CameraBridgeCoordinator._timelapse_frame,
    **dict.fromkeys(DETECTION_EVENTS, CameraBridgeCoordinator._detection),
}
#: events that only change entity states or come too often (a snapshot: one per camera every few
#: seconds), not fired on the bus as ``camera_bridge_event``
NOT_FIRED = frozenset({"camera.status", "camera.removed", "camera.snapshot"})

#: A bridge's config entry: ``runtime_data`` is its coordinator. (A ``type`` statement needs
#: Python 3.12, and HA 2024.3, on 3.11, has no generic ConfigEntry: checkers see the parameter.)
if TYPE_CHECKING:
    CameraBridgeConfigEntry: TypeAlias = ConfigEntry[CameraBridgeCoordinator]
else:
    CameraBridgeConfigEntry = ConfigEntry
