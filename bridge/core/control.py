"""``BridgeControl``: the one inbound port. Every command of every transport (REST, JSON-RPC,
MQTT) is one method here, so each capability is implemented once: the adapters parse, call one
method, render (reading :class:`~bridge.core.view.BridgeView`). ``bridge/ports.py`` implements
it over the running parts; the adapters' unit tests use a fake (tests/unit/).

Each method raises ``bridge.core.errors`` kinds only (``NotFound`` for an unknown id,
``Conflict``, ``Invalid`` with every problem, ``Unavailable``/``NotSaved``/``NotRunning``,
``MediamtxDisabled``). Camera changes are serialised by the camera set's one lock; switches are
written to the state store before they apply (nothing changes when the store fails).
"""

from __future__ import annotations

from typing import Any, Protocol

from ..config import CameraConfig


class BridgeControl(Protocol):
    """The bridge's commands."""

    # -- cameras (through the registry: API cameras are persisted; YAML ones are read-only)

    async def add_camera(self, body: Any) -> str:
        """Add a camera from ``{id?, name?, url | device, ...}``; returns its id. Raises
        Invalid, Conflict (the id exists)."""
        ...

    async def check_camera(self, body: Any) -> CameraConfig:
        """The camera ``body`` would add, validated as :meth:`add_camera` does, without adding
        or storing it. Raises Invalid."""
        ...

    async def update_camera(self, cam_id: str, changes: Any) -> str:
        """Change options of an API camera (restarts only it); returns its id. Raises NotFound,
        Conflict (a YAML camera), Invalid."""
        ...

    async def remove_camera(self, cam_id: str) -> None:
        """Stop and forget an API camera. Raises NotFound, Conflict (a YAML camera)."""
        ...

    async def set_enabled(self, cam_id: str, enabled: bool) -> bool:
        """Switch a camera on or off (kept across restarts); returns whether it changed.
        Raises NotFound, NotSaved."""
        ...

    def request_snapshot(self, cam_id: str) -> None:
        """Take a fresh snapshot from the camera's next keyframe. Raises NotFound."""
        ...

    # -- detection, recording, discovery

    def set_detection(self, cam_id: str, enabled: bool) -> None:
        """Switch a camera's detection (off ends every event). Raises NotFound (also when the
        camera has no detection)."""
        ...

    async def set_recording(self, cam_id: str, recording: bool) -> None:
        """Switch a camera's MediaMTX recording (saved; applied when MediaMTX answers).
        Raises NotFound, MediamtxDisabled."""
        ...

    async def set_discovery(self, enabled: bool) -> None:
        """Switch Home Assistant MQTT discovery (kept across restarts). Raises Conflict when
        switching on a discovery the configuration turns off."""
        ...

    async def reload_config(self, source: str) -> dict[str, Any]:
        """Re-read, validate and apply the configuration file (only what changed restarts);
        returns ``{applied, source, errors, changes, summary, restart_needed, at}``: a rejected
        file changes nothing and its ``errors`` say why. Raises Unavailable when the bridge was
        started without a file."""
        ...

    # -- timelapses (each raises NotRunning before the timelapses started)

    async def add_timelapse(self, body: Any) -> str:
        """Create a timelapse; returns its id. Raises Invalid, Conflict."""
        ...

    async def update_timelapse(self, tl_id: str, changes: Any) -> None:
        """Change an API timelapse. Raises NotFound, Conflict (YAML), Invalid."""
        ...

    async def remove_timelapse(self, tl_id: str) -> None:
        """Delete an API timelapse with its files. Raises NotFound, Conflict (YAML)."""
        ...

    async def timelapse_action(self, tl_id: str, action: str) -> None:
        """``start``, ``pause``, ``resume``, ``stop``, ``render``, ``cancel``, or ``on``
        (resume when paused, else start). Raises NotFound, Conflict (does not apply now)."""
        ...
