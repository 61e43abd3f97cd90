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
from ..store import StoreError
from .cameras import SharedCamera, SharedCameras
from .lease import Lease
from .member import ClusterMember

_LOGGER = logging.getLogger(__name__)

#: seconds a switch written from a worker thread may take before it counts as failed
SWITCH_TIMEOUT = 5.0


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
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.member.__aexit__(*exc)

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
