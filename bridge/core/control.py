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

from collections.abc import Collection
from typing import Any, Protocol

from ..config import CameraConfig

#: the actions of :meth:`BridgeControl.timelapse_action` (besides ``on``)
TIMELAPSE_ACTIONS = ("start", "pause", "resume", "stop", "render", "cancel")


class UsbDeviceInfo(Protocol):
    """A USB capture device as the hot-plug monitor reports it: ``node`` (``/dev/videoN``),
    ``name`` (the product's), ``stable_id`` (the camera id it gets, the same after a re-plug),
    the pixel ``formats`` probed (FourCC such as ``MJPG``; empty: unknown) and
    :meth:`as_event`, its event payload (``{id, node, sys_name, name, ...}``)."""

    @property
    def node(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def stable_id(self) -> str: ...
    @property
    def formats(self) -> tuple[str, ...]: ...

    def as_event(self) -> dict[str, Any]: ...


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

    async def probe_camera(self, camera: CameraConfig) -> dict[str, Any]:
        """Open ``camera``'s source once as the camera would (in a thread), read what its video
        stream carries and close it: ``{"ok": True, "codec", "width", "height", "fps"}`` (fps
        None when the stream does not say), or ``{"ok": False, "error"}`` with why it did not
        open (credentials masked). Changes nothing; raises nothing for a source that fails."""
        ...

    # -- detection, recording, discovery

    def set_detection(self, cam_id: str, enabled: bool) -> None:
        """Switch a camera's detection (off ends every event). Raises NotFound (also when the
        camera has no detection)."""
        ...

    def detect_picture(self, image: Any, min_score: float) -> dict[str, Any]:
        """Run the detector of the top-level ``detect:`` section (HOG without a model; loaded
        once, shared) on ``image`` (a BGR ``numpy`` array, height x width x 3), keeping
        detections scoring at least ``min_score`` (0-1): ``{detector, width, height,
        inference_ms, detections: [{label, score, box}]}`` (box relative, 0..1). Blocking:
        call it in a worker thread. Changes nothing."""
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

    # -- USB hot-plug (the USB monitor reports what it sees; each publishes its event)

    async def usb_attached(self, device: UsbDeviceInfo, *, add: bool) -> str | None:
        """A USB capture device was plugged in (or found at start). The camera it feeds (the
        one under its stable id, else one whose ``device`` is its node or a link to it) resumes
        when ``offline`` or follows the device's new node; with ``add`` (``usb.auto_add``) a
        new camera is started under its stable id when none matches. Its formats go to
        MediaMTX. Publishes ``UsbAttached``; returns the camera it feeds (None: none)."""
        ...

    async def usb_detached(self, device: UsbDeviceInfo, camera: str | None) -> str | None:
        """A USB capture device was unplugged: its camera (``camera``, the one it fed, else the
        one matching it) goes ``offline``, its options kept. Publishes ``UsbDetached``; returns
        that camera (None: none)."""
        ...

    async def usb_missing(self, fed: Collection[str]) -> list[str]:
        """After the devices present at start were attached: every USB camera not in ``fed``
        whose device node does not exist (unplugged while the bridge was stopped) goes
        ``offline`` rather than retrying; returns their ids."""
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
        """One of :data:`TIMELAPSE_ACTIONS` (``start``, ``pause``, ``resume``, ``stop``,
        ``render``, ``cancel``), or ``on`` (resume when paused, else start). Raises NotFound,
        Conflict (does not apply now)."""
        ...
