"""Services (actions) of the integration.

``camera_bridge.create_timelapse``: create a timelapse of a camera on its bridge (name, optional
id, the bridge's timelapse options as ``options``). ``camera_bridge.render_timelapse``: render a
timelapse's frames into a video now (target: any entity of the timelapse's device).

``camera_bridge.snapshot``: save a camera's latest snapshot (optionally a fresh one) as a JPEG
file; the path must be allowed by HA's ``allowlist_external_dirs``. Bad input (not a Camera
Bridge camera, a path not allowed, not ``.jpg``) raises ServiceValidationError; a bridge that
fails raises HomeAssistantError. Files are written atomically (temporary file, fsync, rename)
in the executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import tempfile
from pathlib import Path

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .compat import vol
from .const import DOMAIN
from .coordinator import CameraBridgeCoordinator
from .entity import timelapse_device_id
from .errors import bridge_errors, translated

SERVICE_SNAPSHOT = "snapshot"
SERVICE_CREATE_TIMELAPSE = "create_timelapse"
SERVICE_RENDER_TIMELAPSE = "render_timelapse"
ATTR_NAME = "name"
ATTR_ID = "id"
ATTR_OPTIONS = "options"
ATTR_FILENAME = "filename"
ATTR_FRESH = "fresh"
#: seconds a ``fresh`` snapshot may take (the camera's next keyframe)
FRESH_TIMEOUT = 10.0

SNAPSHOT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_ENTITY_ID): cv.entity_id,
        vol.Required(ATTR_FILENAME): cv.string,
        vol.Optional(ATTR_FRESH, default=False): cv.boolean,
    }
)


CREATE_TIMELAPSE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_ENTITY_ID): cv.entity_id,
        vol.Required(ATTR_NAME): vol.All(cv.string, vol.Length(min=1, max=100)),
        vol.Optional(ATTR_ID): vol.All(cv.string, vol.Match(r"^[a-z0-9_]+$")),
        vol.Optional(ATTR_OPTIONS, default={}): dict,
    }
)
RENDER_TIMELAPSE_SCHEMA = vol.Schema({vol.Required(ATTR_ENTITY_ID): cv.entity_id})


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the services."""
    # ServiceCall.hass only exists from HA 2024.9 on: bind hass here
    hass.services.async_register(DOMAIN, SERVICE_SNAPSHOT, functools.partial(_snapshot, hass), schema=SNAPSHOT_SCHEMA)
    hass.services.async_register(
        DOMAIN, SERVICE_CREATE_TIMELAPSE, functools.partial(_create_timelapse, hass), schema=CREATE_TIMELAPSE_SCHEMA
    )
    hass.services.async_register(
        DOMAIN, SERVICE_RENDER_TIMELAPSE, functools.partial(_render_timelapse, hass), schema=RENDER_TIMELAPSE_SCHEMA
    )


def _camera_of(hass: HomeAssistant, entity_id: str) -> tuple[CameraBridgeCoordinator, str]:
    """The coordinator and camera id of a Camera Bridge camera entity (ServiceValidationError
    for anything else)."""
    entity = er.async_get(hass).async_get(entity_id)
    entry = hass.config_entries.async_get_entry(entity.config_entry_id) if entity and entity.config_entry_id else None
    coordinator = getattr(entry, "runtime_data", None) if entry else None
    if entity is None or entity.platform != DOMAIN or entity.domain != "camera" or coordinator is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_bridge_camera",
            translation_placeholders={"entity_id": entity_id},
        )
    prefix = f"{coordinator.data.info.id}_"
    camera_id = entity.unique_id.removeprefix(prefix).removesuffix("_camera")
    return coordinator, camera_id


def _timelapse_of(hass: HomeAssistant, entity_id: str) -> tuple[CameraBridgeCoordinator, str]:
    """The coordinator and timelapse id of an entity of a timelapse device."""
    entity = er.async_get(hass).async_get(entity_id)
    device = dr.async_get(hass).async_get(entity.device_id) if entity and entity.device_id else None
    entry = hass.config_entries.async_get_entry(entity.config_entry_id) if entity and entity.config_entry_id else None
    coordinator = getattr(entry, "runtime_data", None) if entry else None
    if device is not None and coordinator is not None and entity is not None and entity.platform == DOMAIN:
        prefix = timelapse_device_id(coordinator.data.info.id, "")
        for domain, ident in device.identifiers:
            if domain == DOMAIN and ident.startswith(prefix):
                return coordinator, ident.removeprefix(prefix)
    raise ServiceValidationError(
        translation_domain=DOMAIN, translation_key="not_a_timelapse", translation_placeholders={"entity_id": entity_id}
    )


@bridge_errors
async def _create_timelapse(hass: HomeAssistant, call: ServiceCall) -> None:
    coordinator, camera_id = _camera_of(hass, call.data[ATTR_ENTITY_ID])
    body = {**call.data[ATTR_OPTIONS], "camera": camera_id, "name": call.data[ATTR_NAME]}
    if ATTR_ID in call.data:
        body["id"] = call.data[ATTR_ID]
    await coordinator.client.create_timelapse(body)
    await coordinator.async_refresh()  # its entities appear now, not at the next event


@bridge_errors
async def _render_timelapse(hass: HomeAssistant, call: ServiceCall) -> None:
    coordinator, timelapse_id = _timelapse_of(hass, call.data[ATTR_ENTITY_ID])
    coordinator.set_timelapse(await coordinator.client.timelapse_action(timelapse_id, "render"))


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (temporary file in the same directory, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@bridge_errors
async def _snapshot(hass: HomeAssistant, call: ServiceCall) -> None:
    filename = Path(call.data[ATTR_FILENAME])
    if filename.suffix.lower() not in (".jpg", ".jpeg"):
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="not_jpeg", translation_placeholders={"filename": str(filename)}
        )
    if not filename.is_absolute() or not hass.config.is_allowed_path(str(filename)):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="path_not_allowed",
            translation_placeholders={"filename": str(filename)},
        )
    coordinator, camera_id = _camera_of(hass, call.data[ATTR_ENTITY_ID])
    client = coordinator.client
    try:
        if call.data[ATTR_FRESH]:
            before = await client.snapshot_version(camera_id)
            await client.snapshot_now(camera_id)
            async with asyncio.timeout(FRESH_TIMEOUT):
                while await client.snapshot_version(camera_id) == before:
                    await asyncio.sleep(0.2)
        jpeg = await client.snapshot(camera_id)
    except TimeoutError as err:
        raise translated(f"no fresh snapshot within {FRESH_TIMEOUT:g} s") from err
    try:
        await hass.async_add_executor_job(write_atomically, filename, jpeg)
    except OSError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="write_failed",
            translation_placeholders={"filename": str(filename), "error": str(err)},
        ) from err
