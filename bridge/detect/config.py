"""The ``detect:`` options (global defaults, overridden per camera by ``cameras.<id>.detect``).

Declared like every other section (``Option`` tables, see :mod:`bridge.config`, which imports
the tables and hooks the schema in); documented in docs/configuration.md and docs/detection.md.
Coordinates of masks and zones are relative to the frame (0..1, x to the right, y down).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import voluptuous as vol

from ..config import Option, optional, positive

_LABEL = re.compile(r"^[a-z0-9_]+$")
DETECTORS = ("auto", "onnx", "opencv_hog")
#: camera topic leaves that a label (``{base}/{camera}/{label}``) must not take
RESERVED_LABELS = frozenset({"availability", "status", "snapshot", "motion", "events", "detect"})


def _polygon(value: Any) -> tuple[tuple[float, float], ...]:
    """At least 3 points ``[x, y]`` with 0 <= x, y <= 1 (relative to the frame)."""
    if not isinstance(value, (list, tuple)) or len(value) < 3:
        raise vol.Invalid("expected a polygon: a list of at least 3 [x, y] points (0..1)")
    points = []
    for point in value:
        if (not isinstance(point, (list, tuple)) or len(point) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in point)):
            raise vol.Invalid(f"expected [x, y] with 0 <= x, y <= 1, got {point!r}")
        points.append((float(point[0]), float(point[1])))
    return tuple(points)


def _polygons(value: Any) -> tuple[tuple[tuple[float, float], ...], ...]:
    if not isinstance(value, (list, tuple)):
        raise vol.Invalid("expected a list of polygons")
    return tuple(_polygon(p) for p in value)


def _zones(value: Any) -> dict[str, tuple[tuple[float, float], ...]]:
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping of zone name to polygon")
    for name in value:
        if not isinstance(name, str) or not _LABEL.match(name):
            raise vol.Invalid(f"invalid zone name {name!r}, expected a slug [a-z0-9_]+")
    return {name: _polygon(poly) for name, poly in value.items()}


def _score() -> Any:
    return vol.All(vol.Coerce(float), vol.Range(0, 1))


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


DETECT_OPTIONS = (
    Option("enabled", vol.Boolean(), False, "Run person/object detection on the camera."),
    Option("fps", vol.All(vol.Coerce(float), vol.Range(0.1, 30)), 5.0,
           "Detection frames per second (frames above the rate are dropped before decoding to pixels)."),
    Option("width", vol.All(vol.Coerce(int), vol.Range(64, 3840)), 640, "Detection frame width at most, pixels."),
    Option("height", vol.All(vol.Coerce(int), vol.Range(64, 2160)), 360, "Detection frame height at most, pixels."),
    Option("objects", _labels_or_objects, {"person": {}},
           "Labels to track: a list, or a mapping label -> {min_score, threshold}."),
    Option("min_score", _score(), 0.35, "Detections scoring below this are ignored (0-1)."),
    Option("threshold", _score(), 0.6,
           "An object becomes an event when its median score over its first frames reaches this (0-1)."),
    Option("detector", vol.In(DETECTORS), "auto", "`onnx`, `opencv_hog`, or `auto`: onnx when a model is set."),
    Option("model", optional(vol.All(vol.Coerce(str), vol.Length(min=1))), None, "ONNX model file (YOLOX or YOLOv8/YOLO11)."),
    Option("labels", optional(vol.All(vol.Coerce(str), vol.Length(min=1))), None,
           "Class names file, one a line; default COCO's 80."),
    Option("threads", vol.All(vol.Coerce(int), vol.Range(1, 16)), 1, "onnxruntime intra-op threads per detector."),
    Option("score_frames", vol.All(vol.Coerce(int), vol.Range(1, 30)), 3,
           "Frames whose median score decides whether a new object is real."),
    Option("max_disappeared", vol.All(vol.Coerce(int), vol.Range(1, 1000)), 10,
           "Detection frames an object may be missing before its event ends."),
    Option("mask", _polygons, (), "Polygons (relative coordinates) where motion and objects are ignored."),
    Option("zones", _zones, {}, "Named polygons (relative coordinates) reported in events."),
)

DETECT_OBJECT_OPTIONS = (
    Option("min_score", optional(_score()), None, "Per-label `min_score`; default `detect.min_score`."),
    Option("threshold", optional(_score()), None, "Per-label `threshold`; default `detect.threshold`."),
)

DETECT_MOTION_OPTIONS = (
    Option("gate", vol.Boolean(), True,
           "Run the detector only on frames with motion or tracked objects; false: on every frame."),
    Option("threshold", vol.All(vol.Coerce(int), vol.Range(1, 255)), 25,
           "Grey-level difference from the background that counts as motion (1-255)."),
    Option("min_area", vol.All(vol.Coerce(int), vol.Range(1, 100000)), 40,
           "Smallest moving blob, pixels of the motion frame."),
    Option("width", vol.All(vol.Coerce(int), vol.Range(32, 1920)), 320, "Motion frame width, pixels."),
    Option("learning_rate", vol.All(vol.Coerce(float), vol.Range(0.001, 1)), 0.05,
           "How fast the background follows the scene, per frame (0.001-1)."),
    Option("off_delay", vol.All(vol.Coerce(float), vol.Range(0, 3600)), 5.0,
           "Seconds without motion before `motion` turns `OFF`."),
)

DETECT_CAPTURE_OPTIONS = (
    Option("enabled", vol.Boolean(), False, "Save frames with detections (JPEG + JSON) for retraining."),
    Option("dir", optional(vol.All(vol.Coerce(str), vol.Length(min=1))), None,
           "Directory; default `<data_dir>/captures`."),
    Option("min_score", _score(), 0.5, "Save a frame when a detection scores at least this (0-1)."),
    Option("max_size_mb", positive(float), 500.0, "Size cap, MiB: the oldest files go first."),
)


def _section(options: tuple[Option, ...], *, defaults: bool) -> dict[Any, Any]:
    return {(vol.Optional(o.key, default=o.default) if defaults else vol.Optional(o.key)): o.validator
            for o in options}


_OBJECT_SCHEMA = vol.Schema(_section(DETECT_OBJECT_OPTIONS, defaults=True))


def _schema(defaults: bool) -> vol.Schema:
    body = _section(DETECT_OPTIONS, defaults=defaults)
    sub = {"motion": (vol.Schema(_section(DETECT_MOTION_OPTIONS, defaults=defaults)), dict),
           "capture": (vol.Schema(_section(DETECT_CAPTURE_OPTIONS, defaults=defaults)), dict)}
    for key, (validator, default) in sub.items():
        body[vol.Optional(key, default=default) if defaults else vol.Optional(key)] = validator
    return vol.Schema(body)


#: the top-level ``detect:`` section, with defaults
DETECT_SCHEMA = _schema(True)
#: ``cameras.<id>.detect``: only what the camera overrides
CAMERA_DETECT_SCHEMA = _schema(False)


@dataclass(frozen=True)
class ObjectFilter:
    """``detect.objects.<label>``: per-label scores (0..1); None = the section's own."""

    min_score: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class MotionConfig:
    """``detect.motion``: gating on/off, grey-level threshold, minimum blob area (pixels of a
    frame ``width`` pixels wide), background learning rate per frame, off delay (seconds)."""

    gate: bool = True
    threshold: int = 25
    min_area: int = 40
    width: int = 320
    learning_rate: float = 0.05
    off_delay: float = 5.0


@dataclass(frozen=True)
class CaptureConfig:
    """``detect.capture``: frames saved for retraining (directory, score, size cap in MiB)."""

    enabled: bool = False
    dir: str | None = None
    min_score: float = 0.5
    max_size_mb: float = 500.0


Polygon = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class DetectConfig:
    """A camera's effective ``detect`` options (the global section merged with its own).

    ``fps`` frames/s; ``width``/``height`` pixels; scores 0..1; ``mask``/``zones`` polygons in
    relative coordinates.
    """

    enabled: bool = False
    fps: float = 5.0
    width: int = 640
    height: int = 360
    min_score: float = 0.35
    threshold: float = 0.6
    detector: str = "auto"
    model: str | None = None
    labels: str | None = None
    threads: int = 1
    score_frames: int = 3
    max_disappeared: int = 10
    mask: tuple[Polygon, ...] = ()
    zones: dict[str, Polygon] = field(default_factory=dict)
    objects: dict[str, ObjectFilter] = field(default_factory=lambda: {"person": ObjectFilter()})
    motion: MotionConfig = field(default_factory=MotionConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)

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


def build(data: dict[str, Any], defaults: dict[str, Any] | None = None) -> DetectConfig:
    """A :class:`DetectConfig` from validated ``data`` laid over validated ``defaults`` (the
    global section; the built-in defaults when None). ``motion`` and ``capture`` merge key by
    key; ``objects``, ``mask`` and ``zones`` are replaced whole."""
    base = defaults if defaults is not None else DETECT_SCHEMA({})
    merged = {**base, **{k: v for k, v in data.items() if k not in ("motion", "capture")}}
    for key in ("motion", "capture"):
        merged[key] = {**base[key], **data.get(key, {})}
    merged["objects"] = {label: ObjectFilter(**opts) for label, opts in merged["objects"].items()}
    merged["motion"] = MotionConfig(**merged["motion"])
    merged["capture"] = CaptureConfig(**merged["capture"])
    merged["mask"] = tuple(merged["mask"])
    return DetectConfig(**merged)


def section(config: DetectConfig) -> dict[str, Any]:
    """``config`` (a global ``detect:`` section) as validated data: the ``defaults`` that
    :func:`build` lays a camera's own options over."""
    return DETECT_SCHEMA(as_data(config))


def check(data: dict[str, Any]) -> dict[str, Any]:
    """Cross-option rule: ``detector: onnx`` needs a ``model``."""
    if data.get("detector") == "onnx" and not data.get("model"):
        raise vol.Invalid("detector onnx needs detect.model (an ONNX file)", ["model"])
    return data


def as_data(config: DetectConfig) -> dict[str, Any]:
    """Plain data that validates back to ``config`` (for the registry and check-config)."""
    data = dataclasses.asdict(config)
    data["mask"] = [[list(p) for p in poly] for poly in config.mask]
    data["zones"] = {name: [list(p) for p in poly] for name, poly in config.zones.items()}
    return data
