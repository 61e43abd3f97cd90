"""The ``detect:`` section (global defaults, overridden per camera by ``cameras.<id>.detect``).

Documented in docs/configuration.md and docs/detection.md. Coordinates of masks and zones are
relative to the frame (0..1, x to the right, y down).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import voluptuous as vol

from .options import Section, Sections, boolean, integer, number, option, optional, options_of, positive, text

_LABEL = re.compile(r"^[a-z0-9_]+$")
DETECTORS = ("auto", "onnx", "opencv_hog")
#: camera topic leaves that a label (``{base}/{camera}/{label}``) must not take
RESERVED_LABELS = frozenset({"availability", "status", "snapshot", "motion", "events", "detect"})

Polygon = tuple[tuple[float, float], ...]


def _polygon(value: Any) -> Polygon:
    """At least 3 points ``[x, y]`` with 0 <= x, y <= 1 (relative to the frame)."""
    if not isinstance(value, (list, tuple)) or len(value) < 3:
        raise vol.Invalid("expected a polygon: a list of at least 3 [x, y] points (0..1)")
    points = []
    for point in value:
        if (
            not isinstance(point, (list, tuple))
            or len(point) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in point)
        ):
            raise vol.Invalid(f"expected [x, y] with 0 <= x, y <= 1, got {point!r}")
        points.append((float(point[0]), float(point[1])))
    return tuple(points)


def _polygons(value: Any) -> tuple[Polygon, ...]:
    if not isinstance(value, (list, tuple)):
        raise vol.Invalid("expected a list of polygons")
    return tuple(_polygon(p) for p in value)


def _zones(value: Any) -> dict[str, Polygon]:
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping of zone name to polygon")
    for name in value:
        if not isinstance(name, str) or not _LABEL.match(name):
            raise vol.Invalid(f"invalid zone name {name!r}, expected a slug [a-z0-9_]+")
    return {name: _polygon(poly) for name, poly in value.items()}


def _score() -> Any:
    return number(0, 1)


def _labels_or_objects(value: Any) -> dict[str, Any]:
    """``objects: [person, car]`` or ``objects: {person: {min_score: 0.5}}``."""
    if isinstance(value, (list, tuple)):
        value = {label: {} for label in value}
    if not isinstance(value, dict) or not value:
        raise vol.Invalid("expected a non-empty list of labels or a mapping label -> {min_score, threshold}")
    out: dict[str, Any] = {}
    for label, opts in value.items():
        if not isinstance(label, str) or not _LABEL.match(label):
            raise vol.Invalid(f"invalid label {label!r}, expected [a-z0-9_]+ (as in the labels file)")
        if label in RESERVED_LABELS:
            raise vol.Invalid(f"label {label!r} would clash with the camera topic {{base}}/{{camera}}/{label}")
        try:
            out[label] = _OBJECT_SCHEMA(opts if opts is not None else {})
        except vol.MultipleInvalid as err:
            raise vol.MultipleInvalid([vol.Invalid(e.error_message, [label, *e.path]) for e in err.errors]) from None
    return out


@dataclass(frozen=True)
class ObjectFilter:
    """``detect.objects.<label>``: per-label scores (0..1); None = the section's own."""

    min_score: float | None = option(optional(_score()), None, "Per-label `min_score`; default `detect.min_score`.")
    threshold: float | None = option(optional(_score()), None, "Per-label `threshold`; default `detect.threshold`.")


@dataclass(frozen=True)
class MotionConfig:
    """``detect.motion``: gating on/off, grey-level threshold, minimum blob area (pixels of a
    frame ``width`` pixels wide), background learning rate per frame, off delay (seconds)."""

    gate: bool = option(
        boolean, True, "Run the detector only on frames with motion or tracked objects; false: on every frame."
    )
    threshold: int = option(
        integer(1, 255), 25, "Grey-level difference from the background that counts as motion (1-255)."
    )
    min_area: int = option(integer(1, 100000), 40, "Smallest moving blob, pixels of the motion frame.")
    width: int = option(integer(32, 1920), 320, "Motion frame width, pixels.")
    learning_rate: float = option(
        number(0.001, 1), 0.05, "How fast the background follows the scene, per frame (0.001-1)."
    )
    off_delay: float = option(number(0, 3600), 5.0, "Seconds without motion before `motion` turns `OFF`.")


@dataclass(frozen=True)
class CaptureConfig:
    """``detect.capture``: frames saved for retraining (directory, score, size cap in MiB)."""

    enabled: bool = option(boolean, False, "Save frames with detections (JPEG + JSON) for retraining.")
    dir: str | None = option(optional(text()), None, "Directory; default `<data_dir>/captures`.")
    min_score: float = option(_score(), 0.5, "Save a frame when a detection scores at least this (0-1).")
    max_size_mb: float = option(positive(float), 500.0, "Size cap, MiB: the oldest files go first.")


@dataclass(frozen=True)
class ClipsConfig:
    """``detect.clips``: event clips (stream copy, MP4). Seconds, days, MiB. Setting the section
    (e.g. ``{pre: 5, post: 5}``) turns clips on unless it says ``enabled: false``."""

    enabled: bool = option(boolean, False, "Save an MP4 clip of every event (stream copy, no re-encode).")
    pre: float = option(
        number(0, 60), 5.0, "Seconds before the event's start in its clip (from a keyframe: up to one GOP more)."
    )
    post: float = option(number(0, 60), 5.0, "Seconds after the event's end in its clip.")
    dir: str | None = option(optional(text()), None, "Directory; default `<data_dir>/clips`.")
    max_age: float = option(number(0.01, 3650), 7.0, "Days a clip is kept.")
    max_size_mb: float = option(positive(float), 2000.0, "Size cap of a camera's clips, MiB: the oldest go first.")
    min_free_mb: int = option(
        integer(0, 1_000_000), 500, "No clip is written while the clips' disk has less free space, MiB (0 = no guard)."
    )
    allow_unmasked: bool = option(
        boolean, False, "Allow clips on a camera with `privacy_masks` (clips are stream copies: not masked)."
    )


@dataclass(frozen=True)
class DetectConfig:
    """A camera's effective ``detect`` options (the global section merged with its own).

    ``fps`` frames/s; ``width``/``height`` pixels; scores 0..1; ``mask``/``zones`` polygons in
    relative coordinates.
    """

    enabled: bool = option(boolean, False, "Run person/object detection on the camera.")
    fps: float = option(
        number(0.1, 30),
        5.0,
        "Detection frames per second (frames above the rate are dropped before decoding to pixels).",
    )
    width: int = option(integer(64, 3840), 640, "Detection frame width at most, pixels.")
    height: int = option(integer(64, 2160), 360, "Detection frame height at most, pixels.")
    min_score: float = option(_score(), 0.35, "Detections scoring below this are ignored (0-1).")
    threshold: float = option(
        _score(), 0.6, "An object becomes an event when its median score over its first frames reaches this (0-1)."
    )
    detector: str = option(vol.In(DETECTORS), "auto", "`onnx`, `opencv_hog`, or `auto`: onnx when a model is set.")
    model: str | None = option(optional(text()), None, "ONNX model file (YOLOX or YOLOv8/YOLO11).")
    labels: str | None = option(optional(text()), None, "Class names file, one a line; default COCO's 80.")
    threads: int = option(integer(1, 16), 1, "onnxruntime intra-op threads per detector.")
    score_frames: int = option(integer(1, 30), 3, "Frames whose median score decides whether a new object is real.")
    max_disappeared: int = option(
        integer(1, 1000), 10, "Detection frames an object may be missing before its event ends."
    )
    mask: tuple[Polygon, ...] = option(
        _polygons, (), "Polygons (relative coordinates) where motion and objects are ignored."
    )
    zones: dict[str, Polygon] = option(_zones, {}, "Named polygons (relative coordinates) reported in events.")
    objects: dict[str, ObjectFilter] = option(
        _labels_or_objects,
        {"person": {}},
        "Labels to track: a list, or a mapping label -> {min_score, threshold}.",
        built=lambda: {"person": ObjectFilter()},
    )
    motion: MotionConfig = field(default_factory=MotionConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    clips: ClipsConfig = field(default_factory=ClipsConfig)

    @property
    def kind(self) -> str:
        """The detector actually used: ``onnx`` or ``opencv_hog``."""
        if self.detector == "auto":
            return "onnx" if self.model else "opencv_hog"
        return self.detector

    def min_score_for(self, label: str) -> float:
        """``min_score`` of ``label`` (its own, else the section's)."""
        own = self.objects.get(label)
        return own.min_score if own and own.min_score is not None else self.min_score

    def threshold_for(self, label: str) -> float:
        """``threshold`` of ``label`` (its own, else the section's)."""
        own = self.objects.get(label)
        return own.threshold if own and own.threshold is not None else self.threshold


DETECT_OPTIONS = options_of(DetectConfig)
DETECT_OBJECT_OPTIONS = options_of(ObjectFilter)
DETECT_MOTION_OPTIONS = options_of(MotionConfig)
DETECT_CAPTURE_OPTIONS = options_of(CaptureConfig)
DETECT_CLIPS_OPTIONS = options_of(ClipsConfig)

SECTIONS: Sections = {
    "": Section(DETECT_OPTIONS, ("motion", "capture", "clips")),
    "objects.<label>": Section(DETECT_OBJECT_OPTIONS),
    "motion": Section(DETECT_MOTION_OPTIONS),
    "capture": Section(DETECT_CAPTURE_OPTIONS),
    "clips": Section(DETECT_CLIPS_OPTIONS),
}


def _section(options: tuple[Any, ...], *, defaults: bool) -> dict[Any, Any]:
    return {(vol.Optional(o.key, default=o.default) if defaults else vol.Optional(o.key)): o.validator for o in options}


_OBJECT_SCHEMA = vol.Schema(_section(DETECT_OBJECT_OPTIONS, defaults=True))


def check(data: dict[str, Any]) -> dict[str, Any]:
    """Cross-option rule: ``detector: onnx`` needs a ``model``."""
    if data.get("detector") == "onnx" and not data.get("model"):
        raise vol.Invalid("detector onnx needs detect.model (an ONNX file)", ["model"])
    return data


def _clips_on(value: Any) -> Any:
    """A ``clips`` section that is set turns clips on unless it says ``enabled``."""
    if isinstance(value, dict) and value and "enabled" not in value:
        return {**value, "enabled": True}
    return value


def _schema(defaults: bool) -> vol.Schema:
    body = _section(DETECT_OPTIONS, defaults=defaults)
    sub = {
        "motion": vol.Schema(_section(DETECT_MOTION_OPTIONS, defaults=defaults)),
        "capture": vol.Schema(_section(DETECT_CAPTURE_OPTIONS, defaults=defaults)),
        "clips": vol.All(_clips_on, vol.Schema(_section(DETECT_CLIPS_OPTIONS, defaults=defaults))),
    }
    for key, validator in sub.items():
        body[vol.Optional(key, default=dict) if defaults else vol.Optional(key)] = validator
    return vol.Schema(body)


#: the top-level ``detect:`` section, with defaults
DETECT_SCHEMA = _schema(True)
#: ``cameras.<id>.detect``: only what the camera overrides
CAMERA_DETECT_SCHEMA = _schema(False)
#: the top-level ``detect:`` section with its cross-option rule
SECTION_SCHEMA = vol.All(DETECT_SCHEMA, check)


def build(data: dict[str, Any], defaults: dict[str, Any] | None = None) -> DetectConfig:
    """A :class:`DetectConfig` from validated ``data`` laid over validated ``defaults`` (the
    global section; the built-in defaults when None). ``motion`` and ``capture`` merge key by
    key; ``objects``, ``mask`` and ``zones`` are replaced whole."""
    base = defaults if defaults is not None else DETECT_SCHEMA({})
    merged = {**base, **{k: v for k, v in data.items() if k not in ("motion", "capture", "clips")}}
    for key in ("motion", "capture", "clips"):
        merged[key] = {**base.get(key, {}), **data.get(key, {})}
    merged["objects"] = {label: ObjectFilter(**opts) for label, opts in merged["objects"].items()}
    merged["motion"] = MotionConfig(**merged["motion"])
    merged["capture"] = CaptureConfig(**merged["capture"])
    merged["clips"] = ClipsConfig(**merged["clips"])
    merged["mask"] = tuple(merged["mask"])
    return DetectConfig(**merged)


def section(config: DetectConfig) -> dict[str, Any]:
    """``config`` (a global ``detect:`` section) as validated data: the ``defaults`` that
    :func:`build` lays a camera's own options over."""
    return DETECT_SCHEMA(as_data(config))


def as_data(config: DetectConfig) -> dict[str, Any]:
    """Plain data that validates back to ``config`` (for the registry and check-config)."""
    data = dataclasses.asdict(config)
    data["mask"] = [[list(p) for p in poly] for poly in config.mask]
    data["zones"] = {name: [list(p) for p in poly] for name, poly in config.zones.items()}
    return data
