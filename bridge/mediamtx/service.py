"""The MediaMTX part of a running bridge: health, reconciliation, recording switch, stream URLs.

Loops (a TaskGroup, see :class:`bridge.service.Service`):

* ``mediamtx.health``: every ``health_interval`` seconds ``GET /v3/info`` and ``/v3/paths/list``
  through the circuit breaker. A failure marks MediaMTX ``unavailable``; a return, or a changed
  ``started`` (MediaMTX restarted and forgot every path added through its API), triggers a
  reconciliation at once.
* ``mediamtx.reconcile``: runs the reconciler when triggered (camera added/changed/removed,
  recording switched, MediaMTX back or restarted) and every ``reconcile_interval`` seconds.

While the circuit is open no request is sent at all; snapshots and MQTT do not depend on any of
this (cameras are read directly unless ``read_via_mediamtx`` routes them, see
:mod:`bridge.mediamtx.restream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..config import MediamtxConfig
from ..core.events import (
    BridgeEvent,
    CameraAdded,
    CameraEnabled,
    CameraReleased,
    CameraRemoved,
    EventBus,
    MediamtxAvailability,
    MediamtxChanged,
    MediamtxReconciled,
    RecordingChanged,
)
from ..faults import WarnOnce
from ..service import Service
from .breaker import CircuitBreaker, CircuitOpen
from .client import MediamtxClient, MediamtxError, MediamtxNotFound, MediamtxUnavailable, PathStats
from .generate import generated_paths
from .paths import path_conf, stream_urls
from .reconciler import ReconcileResult, reconcile

if TYPE_CHECKING:
    from ..cameras import CameraSet
    from ..store import Store

_LOGGER = logging.getLogger(__name__)

Listener = Callable[[], None]


class _Guarded:
    """The client with every call going through the circuit breaker."""

    def __init__(self, client: MediamtxClient, breaker: CircuitBreaker) -> None:
        self._client = client
        self._breaker = breaker

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._client, name)

        async def guarded(*args: Any) -> Any:
            return await self._breaker.call(lambda: method(*args))

        return guarded


class MediamtxService(Service):
    """Keeps one MediaMTX in step with the cameras of a :class:`~bridge.cameras.CameraSet`
    (owned paths and recording switches saved in ``store``; events on ``bus``).

    ``available`` is True while MediaMTX answers; ``paths`` holds the latest path statistics;
    listeners added with :meth:`add_listener` run on the event loop after every health check
    that changed something (availability, statistics) and after recording switches.
    """

    def __init__(self, config: MediamtxConfig, cameras: CameraSet, store: Store | None, bus: EventBus) -> None:
        super().__init__()
        self.config = config
        self._cameras = cameras
        self._store = store
        self._bus = bus
        self._unlisten = bus.listen(self._on_event)
        self.client = MediamtxClient(
            config.api_url, username=config.username, password=config.password, timeout=config.request_timeout
        )
        self.breaker = CircuitBreaker((MediamtxUnavailable,))
        self.api = _Guarded(self.client, self.breaker)
        self.available = False
        self.available_since: float | None = None  #: monotonic time MediaMTX came (back)
        self.info: dict[str, Any] = {}
        self.paths: dict[str, PathStats] = {}
        self.error: str | None = "not checked yet"
        self.owned: set[str] = set()
        self.record: dict[str, bool] = {}
        self.formats: dict[str, list[str]] = {}  #: USB camera id -> capture formats probed
        self.last_result: ReconcileResult | None = None
        self.reconciles = 0
        self.checks = 0
        self._trigger = asyncio.Event()
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._fault = WarnOnce(_LOGGER)  #: MediaMTX unavailable

    # -- lifecycle -------------------------------------------------------------------------

    async def _start(self) -> None:
        await self.client.__aenter__()
        store = self._store
        if store is not None:
            self.owned = await asyncio.to_thread(store.owned_paths)
            self.record = await asyncio.to_thread(store.recording)
        self.owned |= await asyncio.to_thread(generated_paths, self.config.config_out)

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {"mediamtx.health": self._health_loop(), "mediamtx.reconcile": self._reconcile_loop()}

    async def __aexit__(self, *exc: object) -> None:
        self._unlisten()  # a reload may start another in its place
        try:
            await super().__aexit__(*exc)
        finally:
            await self.client.__aexit__(None, None, None)

    # -- queries ---------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener()`` after availability, statistics or recording changes."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        self._bus.publish(MediamtxChanged())
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                _LOGGER.exception("mediamtx: listener failed")

    def known_cameras(self) -> list[str]:
        """Ids of the bridge's cameras (each has a path)."""
        return list(self._cameras.cameras)

    def recording(self, cam_id: str) -> bool:
        """Whether camera ``cam_id`` records (its switch, else ``record.enabled``)."""
        return self.record.get(cam_id, self.config.record.enabled)

    def stream_urls(self, cam_id: str) -> dict[str, str]:
        """RTSP/HLS/WebRTC URLs of a camera's path."""
        return stream_urls(self.config, cam_id)

    def camera_info(self, cam_id: str) -> dict[str, Any]:
        """Path metrics and recording of one camera (the API's ``mediamtx`` field)."""
        stats = self.paths.get(cam_id)
        return {
            "path": cam_id,
            "online": stats.online if stats else False,
            "readers": stats.readers if stats else 0,
            "inbound_bytes": stats.inbound_bytes if stats else 0,
            "outbound_bytes": stats.outbound_bytes if stats else 0,
            "recording": self.recording(cam_id),
        }

    def status(self) -> dict[str, Any]:
        """``/health/mediamtx``: availability, circuit, MediaMTX version/started, last reconcile."""
        result = self.last_result
        return {
            "status": "available" if self.available else "unavailable",
            "circuit": str(self.breaker.state),
            "retry_in_s": round(self.breaker.retry_in, 1),
            "version": self.info.get("version"),
            "started": self.info.get("started"),
            "error": self.error,
            "paths": len(self.paths),
            "owned_paths": len(self.owned),
            "reconciles": self.reconciles,
            "conflicts": sorted(result.conflicts) if result else [],
            "failed": sorted(result.failed) if result else [],
        }

    def desired(self) -> dict[str, dict[str, Any]]:
        """Path name -> configuration for every camera of the bridge."""
        return {
            cam_id: path_conf(cam.config, self.config, self.recording(cam_id), self.formats.get(cam_id))
            for cam_id, cam in list(self._cameras.cameras.items())
            if cam_id not in self._cameras.disabled
        }  # a camera switched off is not pulled

    # -- commands --------------------------------------------------------------------------

    def cameras_changed(self) -> None:
        """Reconcile soon (a camera was added, changed, removed or went offline)."""
        self._trigger.set()

    def _on_event(self, event: BridgeEvent) -> None:
        if isinstance(event, (CameraAdded, CameraRemoved, CameraReleased, CameraEnabled)):
            self.cameras_changed()

    async def set_recording(self, cam_id: str, enabled: bool) -> bool:
        """Switch a camera's recording and apply it now if MediaMTX is up; returns whether it
        was applied (else it is applied when MediaMTX returns). Raises StoreError."""
        store = self._store
        if store is not None:
            await asyncio.to_thread(store.set_recording, cam_id, enabled)
        self.record[cam_id] = enabled
        self._bus.publish(RecordingChanged(cam_id, enabled))
        self._notify()
        return await self.reconcile_now() if self.available else False

    async def recordings(self, cam_id: str) -> list[str]:
        """Start times (RFC 3339) of a camera's recorded segments; [] when it has none.
        Raises MediamtxError (or CircuitOpen) when MediaMTX cannot answer."""
        try:
            return await self.api.get_recordings(cam_id)
        except MediamtxNotFound:
            return []

    # -- loops -----------------------------------------------------------------------------

    async def check(self) -> None:
        """One health check (and statistics refresh)."""
        self.checks += 1
        try:
            info = await self.api.info()
        except (CircuitOpen, MediamtxError) as err:
            self._set_available(False, str(err))
            self._notify()  # listeners follow every check (restream routing, stream topics)
            return
        restarted = bool(self.info.get("started")) and info.get("started") != self.info.get("started")
        back = not self.available
        self.info = info
        if restarted:
            _LOGGER.warning("mediamtx: restarted (started %s): re-applying paths", info.get("started"))
        self._set_available(True, None)
        if restarted or back:
            self._trigger.set()
        with contextlib.suppress(CircuitOpen, MediamtxError):
            self.paths = await self.api.list_paths()
        self._notify()

    def _set_available(self, available: bool, error: str | None) -> None:
        changed = available != self.available
        self.available, self.error = available, error
        if not changed:
            return
        self.available_since = time.monotonic() if available else None
        if available:
            self._fault.cleared()
            _LOGGER.info("mediamtx: available (version %s)", self.info.get("version"))
        else:
            self.paths = {}
            self._fault.failed("mediamtx: unavailable: %s", error)
        self._bus.publish(MediamtxAvailability(available, self.info.get("version"), error))
        self._notify()

    async def _health_loop(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.config.health_interval)

    async def reconcile_now(self) -> bool:
        """Run the reconciler once (serialised); True when it completed."""
        async with self._lock:
            try:
                # _Guarded forwards every PathApi call through the breaker
                result = await reconcile(self.api, self.desired(), self.owned)  # type: ignore[arg-type]
            except (CircuitOpen, MediamtxError) as err:
                _LOGGER.debug("mediamtx: reconcile cut short: %s", err)
                return False
            self.reconciles += 1
            previous, self.last_result = self.last_result, result
            if result.conflicts and (previous is None or previous.conflicts != result.conflicts):
                _LOGGER.warning(
                    "mediamtx: paths %s exist with other options and were not created by the bridge: left alone",
                    result.conflicts,
                )
            for name, why in result.failed.items():  # warned once per fault, then debug
                known = previous is not None and previous.failed.get(name) == why
                _LOGGER.log(logging.DEBUG if known else logging.WARNING, "mediamtx: path %s refused: %s", name, why)
            if result.owned != self.owned:
                self.owned = result.owned
                store = self._store
                if store is not None:
                    await asyncio.to_thread(store.set_owned_paths, set(result.owned))
            if result.changed:
                self._bus.publish(MediamtxReconciled(result.added, result.patched, result.deleted))
                with contextlib.suppress(CircuitOpen, MediamtxError):
                    self.paths = await self.api.list_paths()
                self._notify()
            return True

    async def _reconcile_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.reconcile_interval):
                    await self._trigger.wait()
            self._trigger.clear()
            if self.available:
                await self.reconcile_now()
