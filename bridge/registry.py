"""Camera registry: the YAML cameras (read-only) plus cameras added at run time, persisted in
the state store and restored at start; in cluster mode persisted in the cluster's shared
registry (PostgreSQL), where the camera's owner (its lease holder) starts it."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from .cameras import CameraSet
from .config import CameraConfig, Config, ConfigError, camera_data, camera_from_data
from .core.errors import BridgeError, Conflict, Invalid, NotFound
from .store import Store

if TYPE_CHECKING:
    from .cluster.node import ClusterNode

_LOGGER = logging.getLogger(__name__)


class RegistryError(BridgeError):
    """Base of the registry's errors (each is also one of the kinds of ``core.errors``)."""


class UnknownCamera(RegistryError, NotFound):
    """Raised when no camera has the given id."""


class CameraConflict(RegistryError, Conflict):
    """Raised when adding an id that exists, or changing a camera defined in YAML."""


class InvalidCamera(RegistryError, Invalid):
    """Raised when the options do not validate; ``errors`` has one ``key.path: message`` each."""


def slugify(name: str) -> str:
    """``"Front Door #2"`` -> ``"front_door_2"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "camera"


class Registry:
    """Adds, changes and removes cameras of a :class:`~bridge.cameras.CameraSet`, persisting
    API cameras in ``store``; ``config`` gives the YAML cameras (read-only here) and the
    defaults a new camera's options are laid over. With ``cluster`` (cluster mode) API cameras
    go to the shared registry instead of the store, and start on whichever bridge holds their
    lease (maybe not this one)."""

    def __init__(self, cameras: CameraSet, store: Store, config: Config, cluster: ClusterNode | None = None) -> None:
        self._cameras = cameras
        self._store = store
        self._cluster = cluster
        self._config = config
        self._yaml = set(config.cameras)
        self._lock = asyncio.Lock()

    def reconfigure(self, config: Config) -> None:
        """Use a reloaded configuration: its cameras are the YAML ones from now on, its
        ``detect`` section the defaults of cameras added later."""
        self._config = config
        self._yaml = set(config.cameras)

    def source(self, cam_id: str) -> str:
        """``yaml`` or ``api``."""
        if self._cluster is not None and cam_id in self._cluster.rows():
            return "yaml" if self._cluster.rows()[cam_id].origin.startswith("yaml") else "api"
        return "yaml" if cam_id in self._yaml else "api"

    async def restore(self) -> None:
        """Start every stored camera (after the YAML ones; a YAML id wins over a stored one)."""
        if self._cluster is not None:
            return  # the shared registry's cameras start where their lease is held
        stored = await asyncio.to_thread(self._store.cameras)
        for cam_id, data in stored.items():
            if cam_id in self._yaml:
                _LOGGER.warning("registry: stored camera %s is shadowed by the YAML camera of that id", cam_id)
                continue
            try:
                camera = self._from_data(cam_id, data)
            except ConfigError as err:
                _LOGGER.warning("registry: stored camera %s no longer validates: %s", cam_id, err)
                continue
            await self._cameras.add(camera)

    async def add(self, body: Any) -> CameraConfig:
        """Add a camera from an API body ``{id?, name?, url | device, snapshot?, ...}``.
        Raises InvalidCamera, CameraConflict."""
        if not isinstance(body, dict):
            raise InvalidCamera(["(body): expected a JSON object"])
        data = dict(body)
        cam_id = data.pop("id", None) or slugify(str(data.get("name") or "camera"))
        if not isinstance(cam_id, str):
            raise InvalidCamera(["cameras.id: expected a string, a slug [a-z0-9_]+"])
        async with self._lock:
            if (
                cam_id in self._cameras.cameras
                or cam_id in self._yaml
                or (self._cluster is not None and cam_id in self._cluster.rows())
            ):
                raise CameraConflict(f"camera {cam_id} already exists")
            camera = await self._validate(cam_id, data)
            if self._cluster is not None:
                await self._cluster.shared.put(cam_id, _stored(camera, data.get("detect")), "api")
                await self._cluster.member.balance()  # started here at once if it is ours
                return camera
            await asyncio.to_thread(self._store.put_camera, cam_id, _stored(camera, data.get("detect")))
            await self._cameras.add(camera)
        return camera

    async def check(self, body: Any) -> CameraConfig:
        """The camera an API body ``{id?, name?, url | device, ...}`` would add, validated as
        :meth:`add` does, without adding or storing it. Raises InvalidCamera."""
        if not isinstance(body, dict):
            raise InvalidCamera(["(body): expected a JSON object"])
        data = dict(body)
        cam_id = data.pop("id", None) or slugify(str(data.get("name") or "camera"))
        if not isinstance(cam_id, str):
            raise InvalidCamera(["cameras.id: expected a string, a slug [a-z0-9_]+"])
        return await self._validate(cam_id, data)

    async def update(self, cam_id: str, patch: Any) -> CameraConfig:
        """Change options of an API camera (``snapshot`` merged key by key); restarts only that
        camera. Raises UnknownCamera, CameraConflict (YAML camera), InvalidCamera."""
        if not isinstance(patch, dict):
            raise InvalidCamera(["(body): expected a JSON object"])
        async with self._lock:
            if self._cluster is not None:
                row = self._shared_api_camera(cam_id)
                data, stored = dict(row.config), row.config
            else:
                data = camera_data(self._api_camera(cam_id))
                stored = (await asyncio.to_thread(self._store.cameras)).get(cam_id, {})
            data["detect"] = stored.get("detect") or {}  # its own options, over the global ones
            if "id" in patch and patch["id"] != cam_id:
                raise InvalidCamera([f"cameras.{cam_id}.id: the id cannot change"])
            for key, value in patch.items():
                if key == "snapshot" and isinstance(value, dict):
                    data["snapshot"] = {**data["snapshot"], **value}
                elif key != "id":
                    data[key] = value
            # the source given replaces the others (url, device, streams: exactly one is set)
            for given in ("url", "device", "streams"):
                if patch.get(given) is not None:
                    data.update({k: None for k in ("url", "device", "streams") if k != given})
            camera = await self._validate(cam_id, data)
            if self._cluster is not None:  # its owner restarts it when NOTIFY tells
                await self._cluster.shared.put(cam_id, _stored(camera, data["detect"]), "api")
                return camera
            await asyncio.to_thread(self._store.put_camera, cam_id, _stored(camera, data["detect"]))
            await self._cameras.replace(camera)
        return camera

    async def remove(self, cam_id: str) -> None:
        """Stop and forget an API camera. Raises UnknownCamera, CameraConflict (YAML camera)."""
        async with self._lock:
            if self._cluster is not None:  # its owner removes it when NOTIFY tells
                self._shared_api_camera(cam_id)
                await self._cluster.shared.delete(cam_id)
                return
            self._api_camera(cam_id)
            await asyncio.to_thread(self._store.delete_camera, cam_id)
            await self._cameras.remove(cam_id)

    def _api_camera(self, cam_id: str) -> CameraConfig:
        if cam_id in self._yaml:
            raise CameraConflict(f"camera {cam_id} is defined in the YAML configuration and read-only here")
        camera = self._cameras.cameras.get(cam_id)
        if camera is None:
            raise UnknownCamera(f"no camera {cam_id}")
        return camera.config

    def _shared_api_camera(self, cam_id: str) -> Any:
        assert self._cluster is not None
        row = self._cluster.rows().get(cam_id)
        if row is None:
            raise UnknownCamera(f"no camera {cam_id}")
        if row.origin != "api":
            raise CameraConflict(
                f"camera {cam_id} is defined in the YAML configuration of {row.origin[5:]} and read-only here"
            )
        return row

    async def _validate(self, cam_id: str, data: dict[str, Any]) -> CameraConfig:
        """The camera of ``data``; its detection model, if any, is loaded in a thread to check
        it (~0.1 s: not on the event loop). Raises InvalidCamera."""
        try:
            camera = self._from_data(cam_id, data)
        except ConfigError as err:
            raise InvalidCamera(err.errors) from err
        from .detect.detector import check_camera  # its model, if any, must load

        errors = await asyncio.to_thread(check_camera, camera)
        if errors:
            raise InvalidCamera(errors)
        return camera

    def _from_data(self, cam_id: str, data: Any) -> CameraConfig:
        """A camera from plain options, its ``detect`` laid over the file's ``detect:`` section
        (like a YAML camera's). Raises ConfigError."""
        config = self._config
        return camera_from_data(cam_id, data, config.mqtt.base_topic, detect=config.detect)


def _stored(camera: CameraConfig, own_detect: Any) -> dict[str, Any]:
    """What the store keeps of an API camera: its options, with only its own ``detect`` options
    (not the merged ones), so it follows the file's ``detect:`` section at the next start."""
    return {**camera_data(camera), "detect": own_detect or {}}
