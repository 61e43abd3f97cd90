"""A clustered bridge's cameras: the shared registry drives the camera set through the leases.

:class:`ClusterNode` is what ``app.py`` wires in when ``cluster.dsn`` is set. It

- puts the bridge's YAML cameras into the shared registry (origin ``yaml:<member>``) on entry
  and on a reload;
- runs, in the :class:`~bridge.cameras.CameraSet`, exactly the cameras whose lease this bridge
  holds: ``on_take`` starts the camera with the registry's options and switches, ``on_lose``
  stops it *without* announcing a removal (it moves to another bridge, its retained MQTT topics
  and discovery stay);
- re-reads the shared registry at every balance (woken by NOTIFY): a camera it runs whose
  options changed restarts, one switched off or on stops or starts, one whose detection switch
  changed follows it, one removed is removed (its topics cleared);
- writes what it says of each camera it owns (state, stream URLs of its own MediaMTX) to the
  shared registry (``runtime``, fenced by the lease; task ``cluster.runtime``), so every other
  bridge can show the camera with its owner (:meth:`ClusterNode.remote`);
- gives the camera set a switch store (:class:`SharedSwitches`) whose writes go to PostgreSQL,
  fenced by the lease when this bridge holds it.

It imports the camera set and the configuration, never an adapter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Any, Self

from ..cameras import CameraSet
from ..config import CameraConfig, Config, ConfigError, camera_data
from ..core.errors import NotFound
from ..core.events import BridgeEvent, CameraAdded, CameraStatusChanged
from ..store import StoreError
from .cameras import SharedCamera, SharedCameras
from .lease import Lease
from .member import ClusterMember

_LOGGER = logging.getLogger(__name__)

#: seconds a switch written from a worker thread may take before it counts as failed
SWITCH_TIMEOUT = 5.0
#: seconds before a runtime write that failed (database away) is tried again
RUNTIME_RETRY = 1.0


class ClusterNode:
    """This bridge's side of the cluster over ``cameras`` (the camera set).

    ``config`` is the bridge's configuration (its ``cluster`` section must have a ``dsn``);
    ``make_camera(cam_id, data)`` builds a camera from the registry's plain options (raises
    ConfigError). ``async with`` joins the cluster (raises the driver's error when the database
    cannot be reached) and leaves it (stops its cameras, releases their leases).
    """

    def __init__(
        self, config: Config, cameras: CameraSet, make_camera: Callable[[str, dict[str, Any]], CameraConfig]
    ) -> None:
        cluster = config.cluster
        assert cluster.dsn is not None
        self.name = cluster.member
        self._config = config
        self._set = cameras
        self._make = make_camera
        self._rows: dict[str, SharedCamera] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.member = ClusterMember(
            cluster.dsn,
            self.name,
            self._refresh,
            self._take,
            self._lose,
            ttl=cluster.lease_ttl,
            renew=cluster.renew_interval,
        )
        self.switches = SharedSwitches(self)
        self._runtimes: dict[str, dict[str, Any]] = {}
        #: what this bridge says of a camera it runs (``{"state", "stream_urls"}``; raises
        #: NotFound for a camera not running here); set by the composition root
        self.describe: Callable[[str], dict[str, Any]] | None = None
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    @property
    def origin(self) -> str:
        """``yaml:<member>``: the origin of this bridge's YAML cameras in the shared registry."""
        return f"yaml:{self.name}"

    @property
    def shared(self) -> SharedCameras:
        """The shared registry (only while the node is entered)."""
        return SharedCameras(self.member.pool)

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        await self.member.__aenter__()
        try:
            await self.join_yaml(self._config)
        except BaseException:
            await self.member.__aexit__(None, None, None)
            raise
        self._writer = asyncio.create_task(self._write_loop(), name="cluster.runtime")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.member.__aexit__(*exc)

    # -- what the owner says of its cameras ---------------------------------------------------

    def on_event(self, event: BridgeEvent) -> None:
        """A bus listener: a camera this bridge owns changed state (or started): write it."""
        if isinstance(event, (CameraStatusChanged, CameraAdded)):
            self.note(event.camera)

    def note(self, *cam_ids: str) -> None:
        """Write the runtime of ``cam_ids`` (every held camera when none given) soon."""
        self._dirty.update(cam_ids or self.member.held)
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for cam_id in sorted(dirty):
                held = self.member.held.get(cam_id)
                if held is None or self.describe is None:
                    continue
                try:
                    data = self.describe(cam_id)
                except NotFound:
                    continue
                try:
                    await self.shared.set_runtime(cam_id, data, held)
                except (OSError, Exception) as err:  # asyncpg's errors: the database is away
                    _LOGGER.debug("cluster: runtime of %s not written: %s", cam_id, err)
                    self._dirty.add(cam_id)
            if self._dirty:
                await asyncio.sleep(RUNTIME_RETRY)
                self._wake.set()

    def remote(self, cam_id: str) -> tuple[CameraConfig, dict[str, Any]]:
        """A camera of the shared registry as last read (at the last balance): its options and
        ``{owner, epoch, state, stream_urls, assigned, enabled, source}`` (``owner`` None while no
        bridge holds its lease; ``state`` and ``stream_urls`` what that owner last wrote under
        its lease, None and ``{}`` before it did; ``assigned`` the member it goes to; ``source``
        ``yaml`` or ``api``). Raises NotFound when the cluster has no such camera (or its options
        do not validate here)."""
        row = self._rows.get(cam_id)
        if row is None:
            raise NotFound(f"no camera {cam_id}")
        try:
            config = self._make(row.id, row.config)
        except ConfigError as err:
            raise NotFound(f"camera {cam_id} of the cluster does not validate here: {err}") from err
        info = dict(self._runtimes.get(cam_id) or {"owner": None, "epoch": None, "state": None, "stream_urls": {}})
        info.update(
            assigned=self.member.assigned.get(cam_id),
            enabled=row.enabled,
            source="yaml" if row.origin.startswith("yaml") else "api",
        )
        return config, info

    # -- the registry ------------------------------------------------------------------------

    def rows(self) -> dict[str, SharedCamera]:
        """The shared registry as last read (refreshed at every balance)."""
        return self._rows

    async def join_yaml(self, config: Config, removed: Iterable[str] = ()) -> None:
        """Put the YAML cameras of ``config`` into the shared registry (and delete ``removed``
        ones this bridge put there), then balance at once."""
        self._config = config
        shared = self.shared
        for cam_id in removed:
            row = self._rows.get(cam_id) or (await shared.all()).get(cam_id)
            if row is not None and row.origin == self.origin:
                await shared.delete(cam_id)
        for cam in config.cameras.values():
            await shared.put(cam.id, camera_data(cam), self.origin)
        await self.member.balance()

    async def _refresh(self) -> list[str]:
        """The cluster's camera ids, read at every balance; what changed for a camera this
        bridge runs is applied to it here."""
        rows = await self.shared.all()
        old, self._rows = self._rows, rows
        self._runtimes = await self.shared.runtimes()
        for cam_id in list(self.member.held):
            new, before = rows.get(cam_id), old.get(cam_id)
            if new is None:
                if cam_id in self._set.cameras:
                    await self._set.remove(cam_id)  # removed: its topics are cleared
                continue
            if before is None or new == before:
                continue
            try:
                if new.config != before.config or new.enabled != before.enabled:
                    await self._restart(new)
                elif new.detection != before.detection:
                    detector = self._set.detectors.get(cam_id)
                    if detector is not None and detector.enabled != new.detection:
                        detector.set_enabled(new.detection)
            except ConfigError as err:
                _LOGGER.warning("cluster: camera %s no longer validates: %s", cam_id, err)
        return list(rows)

    async def _restart(self, row: SharedCamera) -> None:
        config = self._make(row.id, row.config)
        if row.enabled:
            self._set.disabled.discard(row.id)
        else:
            self._set.disabled.add(row.id)
        if row.id in self._set.cameras:
            await self._set.replace(config)
        else:
            await self._set.add(config)

    # -- leases ------------------------------------------------------------------------------

    async def _take(self, lease: Lease) -> None:
        row = self._rows.get(lease.camera)
        if row is None:
            return
        try:
            await self._restart(row)
        except ConfigError as err:
            _LOGGER.warning("cluster: camera %s does not validate here: %s", lease.camera, err)
        self.note(lease.camera)

    async def _lose(self, camera: str) -> None:
        """Stop ``camera`` without announcing a removal: it moves, its topics stay."""
        await self._set.release(camera)

    # -- fenced writes -----------------------------------------------------------------------

    async def set_switch(self, cam_id: str, switch: str, on: bool) -> None:
        """Write a switch of ``cam_id`` to the shared registry, fenced by the lease when this
        bridge holds it (raises FencedOut when that lease is no longer valid)."""
        await self.shared.set_switch(cam_id, switch, on, fence=self.member.held.get(cam_id))
        row = self._rows.get(cam_id)
        if row is not None:  # what NOTIFY would bring back: nothing to apply again
            self._rows[cam_id] = (
                dataclasses.replace(row, enabled=on) if switch == "enabled" else dataclasses.replace(row, detection=on)
            )

    def run_blocking(self, coro: Any) -> Any:
        """Run ``coro`` on the node's event loop from a worker thread and wait for it."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(SWITCH_TIMEOUT)


class SharedSwitches:
    """The switch store the camera set uses in cluster mode (the methods of
    :class:`~bridge.store.Store` it calls, blocking, from worker threads): reads from the shared
    registry as last read, writes to PostgreSQL."""

    def __init__(self, node: ClusterNode) -> None:
        self._node = node

    def camera_switches(self) -> dict[str, bool]:
        return {cam_id: row.enabled for cam_id, row in self._node.rows().items()}

    def detection(self) -> dict[str, bool]:
        return {cam_id: row.detection for cam_id, row in self._node.rows().items()}

    def set_camera_enabled(self, cam_id: str, enabled: bool) -> None:
        """Raises StoreError when the write failed (database unreachable, lease lost)."""
        self._write(cam_id, "enabled", enabled)

    def set_detection(self, cam_id: str, enabled: bool) -> None:
        """Raises StoreError when the write failed (database unreachable, lease lost)."""
        self._write(cam_id, "detection", enabled)

    def _write(self, cam_id: str, switch: str, on: bool) -> None:
        try:
            self._node.run_blocking(self._node.set_switch(cam_id, switch, on))
        except Exception as err:  # asyncpg's errors, FencedOut, a timeout
            raise StoreError(f"cluster database: {err}") from err
