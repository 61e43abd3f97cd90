"""Reconciler: make MediaMTX's path configurations match what the bridge wants.

Desired paths (one per camera, see :mod:`bridge.mediamtx.paths`) are compared with
``/v3/config/paths/list``: a missing path is added, a path whose options differ is rewritten
whole (``replace``: every option the bridge does not set goes back to its default, so a camera
that changed kind, USB to RTSP, keeps no stale ``runOnInit`` publisher holding its V4L2 device),
and a path the bridge owns but no longer wants is deleted.

Ownership: MediaMTX has no place to tag a path, so the bridge keeps the names it created in its
state database (and counts the paths of the ``mediamtx.yml`` it generated as its own). A path it
does not own is never patched or deleted: when such a path has a camera's name and different
options, it is reported as a conflict and left alone (an identical one is adopted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from .client import MediamtxError, MediamtxUnavailable
from .paths import differences

_LOGGER = logging.getLogger(__name__)


class PathApi(Protocol):
    """The part of :class:`~bridge.mediamtx.client.MediamtxClient` the reconciler uses."""

    async def list_path_configs(self) -> dict[str, dict[str, Any]]: ...
    async def add_path(self, name: str, conf: dict[str, Any]) -> None: ...
    async def replace_path(self, name: str, conf: dict[str, Any]) -> None: ...
    async def delete_path(self, name: str) -> None: ...


@dataclass
class ReconcileResult:
    """What one run changed: path names ``added``, ``patched`` (rewritten), ``deleted``, ``conflicts``
    (a path of that name exists, is not the bridge's and differs), and ``owned`` afterwards."""

    added: list[str] = field(default_factory=list)
    patched: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    owned: set[str] = field(default_factory=set)
    #: path -> why MediaMTX refused it (a 4xx: e.g. an option its version does not know)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether the run added, patched or deleted anything."""
        return bool(self.added or self.patched or self.deleted)


async def reconcile(api: PathApi, desired: dict[str, dict[str, Any]], owned: set[str]) -> ReconcileResult:
    """One pass: add, replace, delete so MediaMTX serves ``desired`` (name -> ``PathConf``).

    ``owned`` is the set of path names the bridge created; the result's ``owned`` is the new set
    (save it). A path MediaMTX refuses (4xx) is reported in ``failed`` and the others go on;
    when MediaMTX does not answer (:class:`MediamtxUnavailable`, or the breaker's error) the
    pass stops and raises: it is simply run again later (every step is idempotent).
    """
    result = ReconcileResult(owned=set(owned))
    actual = await api.list_path_configs()
    for name, conf in desired.items():
        current = actual.get(name)
        try:
            if current is None:
                await api.add_path(name, conf)
                result.added.append(name)
                result.owned.add(name)
                continue
            diff = differences(current, conf)
            if name not in result.owned:
                if diff:
                    result.conflicts.append(name)
                    continue
                result.owned.add(name)  # identical: adopt it
            if diff:
                await api.replace_path(name, conf)  # not a patch: options it no longer sets are cleared
                result.patched.append(name)
        except MediamtxUnavailable:
            raise
        except MediamtxError as err:
            result.failed[name] = str(err)
    for name in sorted(result.owned - set(desired)):
        try:
            if name in actual:
                await api.delete_path(name)
                result.deleted.append(name)
        except MediamtxUnavailable:
            raise
        except MediamtxError as err:
            if err.status != 404:  # already gone is what we wanted
                result.failed[name] = str(err)
                continue
        result.owned.discard(name)
    if result.changed:
        _LOGGER.info(
            "mediamtx: paths added %s, patched %s, deleted %s",
            result.added or "-",
            result.patched or "-",
            result.deleted or "-",
        )
    return result
