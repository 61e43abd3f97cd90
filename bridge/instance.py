"""The bridge instance: its persistent id and the settings changed at run time.

Kept in ``{state_dir}/instance.json`` (``{"id": "<32 hex>", "ha_discovery": true|false|null}``),
written atomically (temporary file, fsync, rename). The id is made once, at the first start, and
names this bridge for clients (the Home Assistant component's unique id, ``GET /api/bridge``,
the ``{base}/bridge/state`` topic); ``ha_discovery`` overrides ``mqtt.discovery`` when a client
turned Home Assistant MQTT discovery off or on through the API (``null``: the configuration
decides). Calls are blocking (file I/O with fsync): run them in a thread.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import BridgeError
from .files import write_atomic

_LOGGER = logging.getLogger(__name__)

FILENAME = "instance.json"


class InstanceError(BridgeError):
    """Raised when ``instance.json`` cannot be read or written (the path is in the message)."""


@dataclass(frozen=True)
class Instance:
    """``id``: 32 lowercase hex characters; ``ha_discovery``: the discovery override or None."""

    id: str
    ha_discovery: bool | None = None


def load(state_dir: Path) -> Instance:
    """The instance of ``state_dir``; made (and saved) with a new random id when missing.
    A file that is not valid JSON of the right shape is replaced by a new instance (a new id).
    Raises InstanceError when the directory cannot be written."""
    path = state_dir / FILENAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ident = data["id"]
        override = data.get("ha_discovery")
        if isinstance(ident, str) and len(ident) == 32 and override in (True, False, None):
            return Instance(ident, override)
        _LOGGER.warning("instance: %s has no valid id; making a new one", path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as err:  # damaged: start again with a new id
        _LOGGER.warning("instance: %s is unreadable (%s); making a new bridge id", path, err)
    instance = Instance(uuid.uuid4().hex)
    save(state_dir, instance)
    return instance


def save(state_dir: Path, instance: Instance) -> None:
    """Write ``instance`` atomically. Raises InstanceError."""
    path = state_dir / FILENAME
    try:
        write_atomic(path, json.dumps(asdict(instance)).encode("utf-8"), mode=0o600)
    except OSError as err:
        raise InstanceError(f"cannot write {path}: {err}") from err
