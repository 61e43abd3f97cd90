"""Object detectors: the common result type, non-maximum suppression and the factory.

A detector turns an ``HxWx3 uint8 BGR`` image into :class:`Detection` objects with boxes in the
image's pixels. Implementations: :mod:`bridge.detect.onnx` (YOLOX / YOLOv8 / YOLO11 models with
onnxruntime) and :mod:`bridge.detect.hog` (OpenCV's HOG people detector, no model file).
Detectors are not thread-safe: each is used by one thread at a time (see
:class:`bridge.detect.worker.DetectWorker`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import BridgeError

if TYPE_CHECKING:
    from ..config import CameraConfig, Config
    from ..config.detect import DetectConfig

#: COCO's 80 class names in the usual model order (0 = person): the labels when no file is given
# fmt: off
COCO80 = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic_light",
    "fire_hydrant", "stop_sign", "parking_meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports_ball", "kite", "baseball_bat", "baseball_glove", "skateboard", "surfboard",
    "tennis_racket", "bottle", "wine_glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot_dog", "pizza", "donut", "cake", "chair", "couch",
    "potted_plant", "bed", "dining_table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell_phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy_bear", "hair_drier", "toothbrush",
]
# fmt: on


class ModelError(BridgeError):
    """Raised when a detection model cannot be loaded or does not have a supported shape.

    ``path`` is the model file; the message names it and the expected input/output shapes.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True)
class Detection:
    """One detected object: ``label`` (e.g. ``person``), ``score`` 0..1 and ``box``
    ``(x1, y1, x2, y2)`` in pixels of the image given to the detector (float)."""

    label: str
    score: float
    box: tuple[float, float, float, float]

    def as_dict(self, width: int, height: int) -> dict[str, object]:
        """JSON-able, with the box relative to a ``width`` x ``height`` image (0..1)."""
        x1, y1, x2, y2 = self.box
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "box": [round(max(0.0, min(1.0, v)), 4) for v in (x1 / width, y1 / height, x2 / width, y2 / height)],
        }


class Detector(Protocol):
    """What every detector offers."""

    #: short name for logs and metrics (``onnx``, ``opencv_hog``)
    name: str
    #: the labels it can report
    labels: tuple[str, ...]

    def detect(self, image: np.ndarray, min_score: float) -> list[Detection]:
        """Objects in ``image`` (``HxWx3 uint8 BGR``) scoring at least ``min_score``, boxes in
        its pixels. Blocking (tens of milliseconds): call it off the event loop."""


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of box ``a`` (4,) with each of boxes ``b`` (Nx4), all
    ``x1, y1, x2, y2``; returns (N,) floats in 0..1."""
    x1 = np.maximum(a[0], b[:, 0])
    y1 = np.maximum(a[1], b[:, 1])
    x2 = np.minimum(a[2], b[:, 2])
    y2 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float = 0.45) -> list[int]:
    """Greedy non-maximum suppression per class: indices of the boxes kept, best first.

    ``boxes`` Nx4 ``x1, y1, x2, y2``, ``scores`` (N,), ``classes`` (N,) ints; a box is dropped
    when it overlaps a better box of the same class by more than ``iou_threshold``.
    """
    keep: list[int] = []
    order = np.argsort(-scores)
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        overlap = iou(boxes[best], boxes[rest])
        order = rest[(overlap <= iou_threshold) | (classes[rest] != classes[best])]
    return keep


def read_labels(path: str | None, count: int, model: str = "model") -> tuple[str, ...]:
    """Class names, one a line, from ``path``; COCO's when None. Spaces become underscores
    (labels are MQTT topic levels). Raises :class:`ModelError` when unreadable, when there
    are fewer names than the model's ``count`` classes, or when there is no labels file and
    the ``model`` (its file, named in the message) does not have COCO's 80 classes."""
    if path is None:
        if count != len(COCO80):
            raise ModelError(
                model,
                f"a model of {count} classes and no labels file: COCO's "
                f"{len(COCO80)} names do not fit it; set detect.labels to a file of "
                f"its {count} class names, one a line",
            )
        names = list(COCO80)
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ModelError(path, f"cannot read the labels file: {err.strerror}") from err
        names = [line.strip().replace(" ", "_") for line in text.splitlines() if line.strip()]
    if len(names) < count:
        raise ModelError(path or "labels", f"{len(names)} labels for a model of {count} classes")
    return tuple(names[:count])


_CACHE: dict[tuple[object, ...], Detector] = {}
_CACHE_LOCK = threading.Lock()


def load(config: DetectConfig, *, shared: bool = False) -> Detector:
    """The detector ``config`` asks for: ``onnx`` (needs ``model``) or ``opencv_hog`` (the
    default when no model is configured). ``shared=True`` returns one instance per identical
    configuration (for the API, which serialises its calls). Blocking (loads the model).
    Raises :class:`ModelError` for a missing or unsupported model file."""
    key = (config.detector, config.model, config.labels, config.threads)
    if shared:
        with _CACHE_LOCK:
            if key not in _CACHE:
                _CACHE[key] = load(config)
            return _CACHE[key]
    if config.kind == "onnx":
        from .onnx import OnnxDetector

        assert config.model is not None  # enforced by the configuration schema
        return OnnxDetector(config.model, labels=config.labels, threads=config.threads)
    from .hog import HogDetector

    return HogDetector()


def check_models(config: Config) -> list[str]:
    """Load every model the configuration uses (the global ``detect`` section and each camera
    with detection on) far enough to check its input/output shapes and labels; returns
    ``key.path: message`` lines for :class:`~bridge.errors.ConfigError` (empty when all load).
    Blocking (a model load takes ~0.1 s)."""
    errors = _check("detect", config.detect) if config.detect.kind == "onnx" else []
    for cam_id, cam in config.cameras.items():
        if cam.detect.enabled:
            errors += _check(f"cameras.{cam_id}.detect", cam.detect)
    return errors


def check_camera(camera: CameraConfig) -> list[str]:
    """:func:`check_models` for one camera (added through the API)."""
    return _check(f"cameras.{camera.id}.detect", camera.detect) if camera.detect.enabled else []


def _check(prefix: str, detect: DetectConfig) -> list[str]:
    errors: list[str] = []
    if detect.kind == "onnx":
        try:
            load(detect)  # loaded to check, then dropped (the cameras and the API load their own)
        except ModelError as err:
            key = "labels" if detect.labels is not None and err.path == detect.labels else "model"
            errors.append(f"{prefix}.{key}: {err}")
    return errors
