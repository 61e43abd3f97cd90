"""``BridgeView``: the read-only port. Adapters (REST, JSON-RPC, MQTT) read the bridge only
through it; each answer is plain data (JSON-able dicts, bytes, paths) or a small typed object
defined here, never a part's concrete class. ``bridge/ports.py`` implements it over the running
parts; the adapters' unit tests use a fake (tests/unit/).

Every method naming a camera raises ``NotFound`` for an unknown id. A new piece of state the
adapters show is one method here (and its implementation in ``LiveView``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ..config import CameraConfig, Config
from .events import EventBus


class SnapshotImage(Protocol):
    """A JPEG snapshot: ``jpeg`` bytes, ``width``/``height`` pixels, ``taken_at`` epoch seconds."""

    @property
    def jpeg(self) -> bytes: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def taken_at(self) -> float: ...


class CameraStatus(Protocol):
    """A camera's runtime status: ``state`` (a ``str`` enum: ``streaming``, ``backoff``, ...),
    ``last_frame_at`` (epoch seconds, None before the first packet), ``error``, counters
    (packets, keyframes, decoded frames, decode seconds, reconnects); :meth:`as_payload` is its
    MQTT/API form."""

    @property
    def state(self) -> str: ...
    @property
    def last_frame_at(self) -> float | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def frames(self) -> int: ...
    @property
    def keyframes(self) -> int: ...
    @property
    def decoded(self) -> int: ...
    @property
    def decode_seconds(self) -> float: ...
    @property
    def reconnects(self) -> int: ...

    def as_payload(self) -> dict[str, Any]: ...


class SnapshotFeed(Protocol):
    """A camera's stream of snapshots (the MJPEG stream): the latest, and the next one."""

    @property
    def latest(self) -> SnapshotImage | None: ...

    async def next_snapshot(self) -> SnapshotImage: ...


class BridgeView(Protocol):
    """What the bridge shows: cameras, snapshots, detection, recording, switches, its state."""

    @property
    def config(self) -> Config:
        """The configuration the bridge runs with."""
        ...

    @property
    def events(self) -> EventBus:
        """The event bus (API subscribers: Server-Sent Events, JSON-RPC notifications)."""
        ...

    # -- cameras

    def camera_ids(self) -> list[str]:
        """Ids of every camera (running, offline or switched off), in start order."""
        ...

    def camera(self, cam_id: str) -> CameraConfig:
        """A camera's options."""
        ...

    def camera_status(self, cam_id: str) -> CameraStatus:
        """A camera's runtime status."""
        ...

    def camera_source(self, cam_id: str) -> str:
        """``yaml`` (read-only) or ``api`` (added at run time)."""
        ...

    def enabled(self, cam_id: str) -> bool:
        """Whether the camera is switched on."""
        ...

    def streams(self, cam_id: str) -> tuple[dict[str, str], dict[str, Any] | None]:
        """The camera's stream URLs and its MediaMTX path info (``{path, online, readers,
        inbound_bytes, outbound_bytes, recording, read_via}``); ``({}, None)`` without MediaMTX."""
        ...

    def snapshot(self, cam_id: str) -> SnapshotImage:
        """The latest snapshot. Raises NoSnapshot (with the camera's state) before the first."""
        ...

    def snapshot_feed(self, cam_id: str) -> SnapshotFeed:
        """The camera's snapshot feed; :meth:`feed_current` tells when it ended."""
        ...

    def feed_current(self, cam_id: str, feed: SnapshotFeed) -> bool:
        """Whether ``feed`` is still the camera's (False once it was replaced or removed)."""
        ...

    # -- detection and recording

    def detection(self, cam_id: str) -> dict[str, Any]:
        """``{camera, enabled, motion, counts, snapshots, stats}``. Raises NotFound when the
        camera has no detection."""
        ...

    def best_snapshot(self, cam_id: str, label: str, crop: bool = False) -> bytes | None:
        """The JPEG of the label's best detection, or with ``crop`` its box cropped (None before
        one). Raises NotFound when the camera has no detection."""
        ...

    def event(self, event_id: str) -> dict[str, Any]:
        """A recent detection event: ``{id, camera, event, snapshot_url, clip_url}`` (``event``:
        its latest payload, None when only its clip is left; URLs None when there is none).
        Raises NotFound."""
        ...

    def event_snapshot(self, event_id: str) -> bytes:
        """The JPEG of the event's snapshot (full size, box drawn). Raises NotFound."""
        ...

    async def event_clips(self, cam_id: str) -> list[dict[str, Any]]:
        """The camera's event clips on disk, newest first: ``{id, camera, started_at, ended_at,
        size, url, snapshot_url, label}`` (``started_at``: the event's start, ``ended_at``: when
        the clip was written, both RFC 3339 UTC; ``size`` bytes; ``snapshot_url``/``label`` None
        when the event is no longer in memory). Empty for a camera without clips. Raises
        NotFound for an unknown camera."""
        ...

    def event_clip(self, event_id: str) -> Path:
        """The MP4 file of the event's clip (blocking check of the clips directory). Raises
        NotFound."""
        ...

    def recording(self, cam_id: str) -> bool:
        """Whether the camera records. Raises MediamtxDisabled without MediaMTX."""
        ...

    async def recordings(self, cam_id: str) -> list[str]:
        """Start times (RFC 3339) of the camera's recorded segments. Raises MediamtxDisabled,
        MediamtxDown (MediaMTX does not answer)."""
        ...

    def mediamtx_available(self) -> bool | None:
        """Whether MediaMTX answers (None: not enabled)."""
        ...

    def mediamtx_status(self) -> dict[str, Any]:
        """``{status, ...}``: availability, circuit breaker, version, last reconciliation
        (``{"status": "disabled"}`` when not enabled)."""
        ...

    # -- the bridge

    def bridge_state(self) -> dict[str, Any]:
        """The ``{base}/bridge/state`` payload (id, version, uptime, camera states, ...)."""
        ...

    def discovery(self) -> bool:
        """Whether Home Assistant MQTT discovery is published now."""
        ...

    def mqtt_settings(self) -> dict[str, Any]:
        """``{base_topic, node_id, discovery, discovery_configured, discovery_prefix, connected}``."""
        ...

    def config_error(self) -> list[str] | None:
        """The errors of the configuration file on disk when its last reload was rejected (the
        bridge runs an older one); None when the running configuration is the file's."""
        ...

    def mediamtx_summary(self) -> dict[str, Any] | None:
        """``{available, version}`` of MediaMTX (None: not enabled)."""
        ...

    def mqtt_connected(self) -> bool:
        """Whether the MQTT broker connection is up."""
        ...

    def registry_open(self) -> bool:
        """Whether the camera registry (and its state database) is open."""
        ...

    def cluster_camera(self, cam_id: str) -> tuple[CameraConfig, dict[str, Any]]:
        """Cluster mode: a camera of the shared registry that does not run on this bridge, as
        last read: its options and ``{owner, epoch, state, stream_urls, assigned, enabled,
        source}`` (``owner`` its lease holder or None; ``state`` and ``stream_urls`` what the
        owner last wrote, from the owner's MediaMTX; ``assigned`` the member it goes to).
        Raises NotFound (also for a bridge alone)."""
        ...

    def cluster_camera_ids(self) -> list[str]:
        """Cluster mode: ids of the shared registry's cameras that do not run on this bridge
        (as last read, sorted); ``[]`` for a bridge alone."""
        ...

    def cluster_fields(self, cam_id: str) -> dict[str, Any]:
        """Cluster mode: ``{owner, epoch}`` of a camera this bridge runs; ``{}`` alone."""
        ...

    def cluster_state(self) -> dict[str, Any] | None:
        """Cluster mode: ``{member, connected, leases, renew_failures, failovers}`` (leases held
        now; renewals failed and cameras taken over from a vanished owner, since start); None for
        a bridge alone."""
        ...

    async def store_healthy(self) -> bool:
        """Whether the state database answers (False before it is open)."""
        ...

    def usb_devices(self) -> dict[str, Any]:
        """``{discovery, devices}``: the USB discovery mode and every present device."""
        ...

    # -- metrics (read at scrape time)

    def snapshot_counters(self) -> dict[str, tuple[int, int]]:
        """Per camera ``(snapshots made, their bytes)``."""
        ...

    def ring_bytes(self) -> dict[str, tuple[int, int, int]]:
        """Per camera ``(bytes of its keyframe ring, bytes of its clip ring and recording, the
        most its rings may hold: event_snapshot.max_memory_mb)``: compressed packets held in
        memory."""
        ...

    def mqtt_counters(self) -> tuple[int, int]:
        """``(successful broker connections, messages handed to the broker)``."""
        ...

    def detection_stats(self) -> dict[str, Any]:
        """Per camera with detection, its stats (``buckets``: counts per ``bounds`` (upper
        bounds in seconds, then +Inf), ``inference_sum``, ``runs``, ``frames``, ``skipped``,
        ``events`` by (label, type))."""
        ...

    def mediamtx_metrics(self) -> dict[str, Any] | None:
        """``{up, circuit_open, api_requests, reconciles, cameras: {id: path info}}`` (None
        without MediaMTX)."""
        ...

    def part_collectors(self) -> list[Any]:
        """Prometheus collectors the parts bring (the timelapses')."""
        ...

    # -- timelapses (each raises NotRunning before the timelapses started)

    def timelapses(self) -> list[dict[str, Any]]:
        """Every timelapse as the API shows it."""
        ...

    def timelapse_states(self) -> list[tuple[str, dict[str, Any]]] | None:
        """Every timelapse as ``(display name, compact state)``, the state being the MQTT
        ``{base}/timelapse/{id}/state`` payload (``id``, ``camera``, ``state``, ``render``, ...);
        None before the timelapses started (never raises)."""
        ...

    def timelapse(self, tl_id: str) -> dict[str, Any]:
        """One timelapse as the API shows it. Raises NotFound."""
        ...

    async def timelapse_frames(self, tl_id: str, offset: int, limit: int) -> tuple[int, list[Any]]:
        """``(total, rows)``: the kept frames, oldest first, from ``offset``. Raises NotFound."""
        ...

    async def timelapse_videos(self, tl_id: str) -> list[Any]:
        """The rendered videos, newest first. Raises NotFound."""
        ...

    async def timelapse_frame(self, tl_id: str, frame_id: int) -> Path:
        """A kept frame's JPEG file. Raises NotFound."""
        ...

    async def timelapse_video(self, tl_id: str, video_id: int) -> tuple[Path, Path | None]:
        """A video's MP4 file and its thumbnail (None: none). Raises NotFound."""
        ...

    def timelapse_thumbnail(self, tl_id: str) -> Path:
        """The small JPEG of the timelapse's latest frame (may not exist yet). Raises NotFound."""
        ...
