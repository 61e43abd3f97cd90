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
import inspect
import logging
import random
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

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
from .const import DOMAIN, EVENT_BRIDGE, POLL_INTERVAL, PUSH_RETRY_MAX, STATS_INTERVAL
from .detection import DETECTION_EVENT, DETECTION_EVENTS, Detection

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

_LOGGER = logging.getLogger(__name__)

_TAKES_ENTRY = "config_entry" in inspect.signature(DataUpdateCoordinator.__init__).parameters


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
        # HA 2024.3 takes the entry from a ContextVar; from 2024.11 it is passed (and must be
        # from 2026.8 on): pass it where the parameter exists
        explicit = {"config_entry": entry} if _TAKES_ENTRY else {}
        super().__init__(hass, _LOGGER, name=f"{DOMAIN} {entry.title}", update_interval=POLL_INTERVAL,
                         **explicit)
        self.client = client
        self.push_connected = False
        self._push_warned = False
        #: camera id -> what detection events said (reset when the push channel reconnects)
        self.detections: dict[str, Detection] = {}

    async def _async_update_data(self) -> BridgeState:
        try:
            info, cameras, timelapses, mediamtx = await asyncio.gather(
                self.client.bridge(), self.client.cameras(), self.client.timelapses(),
                self.client.mediamtx_health())
            with_detection = [cam.id for cam in cameras if cam.detection_labels]
            views = await asyncio.gather(*(self.client.detection(cam_id) for cam_id in with_detection))
        except CameraBridgeAuthError as err:
            raise ConfigEntryAuthFailed(str(err)) from err
        except CameraBridgeApiError as err:
            raise UpdateFailed(f"bridge not reachable: {err}") from err
        now = time.time()
        for cam_id, view in zip(with_detection, views, strict=True):
            if view is not None:  # else: an older bridge, known from events only
                self.detections[cam_id] = Detection.from_api(view, now)
        return BridgeState(info, {cam.id: cam for cam in cameras}, {tl.id: tl for tl in timelapses}, mediamtx)

    def start_push(self, entry: ConfigEntry) -> None:
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
                    _LOGGER.warning("%s: push channel down (%s); polling every %s s until it is back",
                                    self.name, err, POLL_INTERVAL.total_seconds())
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
        if event.type == SUBSCRIBED:
            _LOGGER.debug("%s: push channel connected", self.name)
            self.push_connected = True
            self._push_warned = False
            self.update_interval = STATS_INTERVAL  # states are pushed from now on
            self.detections = {}  # what happened while disconnected is unknown
            await self.async_refresh()  # events are not resumed: reload what changed meanwhile
            return
        state = self.data
        cam_id = event.data.get("camera")
        if event.type == "camera.status" and state is not None:
            camera = state.cameras.get(cam_id)
            if camera is None:
                await self.async_refresh()  # a camera added on the bridge
                return
            cameras = {**state.cameras, cam_id: camera.with_status(event.data)}
            info = replace(state.info, raw={**state.info.raw, "cameras": {
                **state.info.raw.get("cameras", {}), cam_id: event.data.get("state")}})
            self.async_set_updated_data(replace(state, info=info, cameras=cameras))
        elif event.type == "camera.removed" and state is not None:
            cameras = {k: v for k, v in state.cameras.items() if k != cam_id}
            self.async_set_updated_data(replace(state, cameras=cameras))
        elif event.type == "camera.recording" and state is not None and cam_id in state.cameras:
            camera = state.cameras[cam_id]
            media = {**(camera.raw.get("mediamtx") or {}), "recording": bool(event.data.get("recording"))}
            cameras = {**state.cameras, cam_id: camera.with_status({"mediamtx": media})}
            self.async_set_updated_data(replace(state, cameras=cameras))
            self._fire(event)
        elif event.type == "mediamtx.availability" and state is not None and state.mediamtx is not None:
            status = "available" if event.data.get("available") else "unavailable"
            self.async_set_updated_data(replace(state, mediamtx={**state.mediamtx, "status": status,
                                                                 "error": event.data.get("error")}))
            self._fire(event)
        elif event.type.startswith("timelapse.") and state is not None:
            await self._on_timelapse(state, event)
            self._fire(event)
        elif event.type in DETECTION_EVENTS and isinstance(cam_id, str):
            self.detections.setdefault(cam_id, Detection()).apply(event.type, event.data, time.time())
            self.async_update_listeners()
            self._fire(event)
        else:
            self._fire(event)

    def set_timelapse(self, timelapse: Timelapse) -> None:
        """Take a timelapse as an action's answer returned it."""
        if self.data is not None:
            self.async_set_updated_data(replace(self.data, timelapses={**self.data.timelapses,
                                                                       timelapse.id: timelapse}))

    async def _on_timelapse(self, state: BridgeState, event: BridgeEvent) -> None:
        """``timelapse.status`` (the compact status, ``id``) and ``timelapse.render``
        (``timelapse`` + the render's fields) update one timelapse; ``timelapse.added`` or a
        status of an unknown one reloads; ``timelapse.removed`` drops it."""
        data = event.data
        tl_id = data.get("id") if event.type == "timelapse.status" else data.get("timelapse")
        current = state.timelapses.get(tl_id) if isinstance(tl_id, str) else None
        if event.type == "timelapse.removed":
            timelapses = {k: v for k, v in state.timelapses.items() if k != tl_id}
            self.async_set_updated_data(replace(state, timelapses=timelapses))
        elif event.type == "timelapse.added" or (event.type == "timelapse.status" and current is None):
            await self.async_refresh()
        elif current is not None and event.type == "timelapse.status":
            timelapses = {**state.timelapses, current.id: current.updated(data)}
            self.async_set_updated_data(replace(state, timelapses=timelapses))
        elif current is not None and event.type == "timelapse.render":
            render = {k: v for k, v in data.items() if k != "timelapse"}
            timelapses = {**state.timelapses, current.id: current.updated({"render": render})}
            self.async_set_updated_data(replace(state, timelapses=timelapses))
        elif current is not None and event.type == "timelapse.frame" and data.get("kept"):
            frame = {"last_frame": data.get("frame")}  # the count comes with timelapse.status
            self.async_set_updated_data(replace(state, timelapses={**state.timelapses,
                                                                   current.id: current.updated(frame)}))

    def _fire(self, event: BridgeEvent) -> None:
        """``camera_bridge_event`` on HA's bus: the event's data (a detection's payload lifted
        to the top level) with ``event`` (its type) and ``bridge_id``."""
        state = self.data
        data = dict(event.data)
        if event.type == DETECTION_EVENT and isinstance(data.get("event"), dict):
            data = {**data.pop("event"), **data}
        self.hass.bus.async_fire(EVENT_BRIDGE, {**data, "event": event.type,
                                                "bridge_id": state.info.id if state else None})
