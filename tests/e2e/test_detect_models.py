"""The YOLOv8/YOLO11 output layout and the labels file, with a hand-written ONNX model whose
output is a fixed tensor (no such model ships here); and retraining captures on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bridge.detect.training import TrainingCapture
from bridge.config.detect import CaptureConfig
from bridge.detect.detector import ModelError
from bridge.detect.onnx import OnnxDetector

from .test_detect_config import _field


def constant_model(input_shape: list[int], output: np.ndarray) -> bytes:
    """An ONNX model with input ``images`` (float32 ``input_shape``) and output ``output``, a
    Constant node holding ``output`` (float32): protobuf written by hand (onnx.proto3)."""
    def value_info(name: str, shape: list[int]) -> bytes:
        dims = b"".join(_field(1, _field(1, d)) for d in shape)
        return _field(1, name.encode()) + _field(2, _field(1, _field(1, 1) + _field(2, dims)))

    tensor = b"".join(_field(1, d) for d in output.shape) + _field(2, 1) + _field(9, output.astype("<f4").tobytes())
    attribute = _field(1, b"value") + _field(5, tensor) + _field(20, 4)  # type TENSOR
    node = _field(2, b"output") + _field(4, b"Constant") + _field(5, attribute)
    graph = (_field(1, node) + _field(2, b"g") + _field(11, value_info("images", input_shape))
             + _field(12, value_info("output", list(output.shape))))
    return _field(1, 8) + _field(7, graph) + _field(8, _field(2, 13))


def yolov8_output(classes: int, boxes: list[tuple[float, float, float, float, int, float]]) -> np.ndarray:
    """1x(4+C)x8400 with the given ``(cx, cy, w, h, class, score)`` rows (input pixels of 640)."""
    out = np.zeros((1, 4 + classes, 8400), np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(boxes):
        out[0, :4, i * 7] = (cx, cy, w, h)
        out[0, 4 + cls, i * 7] = score
    return out


def test_yolov8_layout_decodes_through_the_letterbox(tmp_path):
    model = tmp_path / "yolo11n.onnx"
    # two overlapping boxes of class 0 (NMS keeps the better), one of class 1, one too weak
    model.write_bytes(constant_model([1, 3, 640, 640], yolov8_output(2, [
        (320, 160, 100, 200, 0, 0.9), (325, 165, 100, 200, 0, 0.8), (100, 100, 40, 40, 1, 0.7),
        (500, 300, 50, 50, 0, 0.2)])))
    labels = tmp_path / "labels.txt"
    labels.write_text("person\nfire hydrant\n", encoding="utf-8")
    detector = OnnxDetector(str(model), labels=str(labels))
    assert detector.layout == "yolov8" and detector.labels == ("person", "fire_hydrant")
    # a 1280x640 picture is scaled by 0.5 into the 640x640 input (padded below)
    found = detector.detect(np.zeros((640, 1280, 3), np.uint8), 0.35)
    assert [(d.label, round(d.score, 2)) for d in found] == [("person", 0.9), ("fire_hydrant", 0.7)]
    assert found[0].box == pytest.approx((540, 120, 740, 520))
    assert found[1].box == pytest.approx((160, 160, 240, 240))


def test_labels_file_shorter_than_the_model_is_refused(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(constant_model([1, 3, 640, 640], yolov8_output(3, [])))
    labels = tmp_path / "labels.txt"
    labels.write_text("person\n", encoding="utf-8")
    with pytest.raises(ModelError, match="1 labels for a model of 3 classes"):
        OnnxDetector(str(model), labels=str(labels))


def test_yolox_output_of_the_wrong_length_is_refused(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(constant_model([1, 3, 416, 416], np.zeros((1, 3000, 85), np.float32)))
    with pytest.raises(ModelError, match=r"with N = 3549 for a 416x416 input; got input 1x3x416x416, output 1x3000x85"):
        OnnxDetector(str(model))


def test_captures_are_dated_with_sidecars_and_capped(tmp_path):
    picture = np.random.default_rng(1).integers(0, 255, (360, 640, 3), np.uint8)  # ~200 kB as JPEG
    capture = TrainingCapture("porch", CaptureConfig(enabled=True, min_score=0.5, max_size_mb=1), tmp_path)
    person = [{"label": "person", "score": 0.8, "box": [0.1, 0.1, 0.3, 0.9]}]
    assert capture.offer(picture, [{**person[0], "score": 0.4}], 1000.0) is None  # below min_score
    saved = [capture.offer(picture, person, 1000.0 + i * 0.5) for i in range(20)]
    assert sum(p is not None for p in saved) == 10, "at most one frame a second"
    first = next(p for p in saved if p)
    assert first.parent.parent == tmp_path and len(first.parent.name) == 10  # YYYY-MM-DD
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert total <= 1024 * 1024, "the size cap holds"
    kept = sorted(tmp_path.rglob("*.jpg"))
    assert first not in kept and kept, "the oldest went first"
    sidecar = json.loads(kept[-1].with_suffix(".json").read_text())
    assert sidecar["detections"] == person and (sidecar["width"], sidecar["height"]) == (640, 360)
    assert not list(tmp_path.rglob(".*.tmp")), "no temporary file left"


def test_the_capture_cap_holds_for_cameras_sharing_the_directory(tmp_path):
    """Every camera saves into ``<data_dir>/captures``: two cameras under a 1 MiB cap keep the
    directory under 1 MiB together, not 1 MiB each."""
    picture = np.random.default_rng(2).integers(0, 255, (360, 640, 3), np.uint8)  # ~200 kB as JPEG
    config = CaptureConfig(enabled=True, min_score=0.5, max_size_mb=1)
    cams = [TrainingCapture(name, config, tmp_path) for name in ("porch", "yard")]
    person = [{"label": "person", "score": 0.8, "box": [0.1, 0.1, 0.3, 0.9]}]
    for i in range(10):
        for cam in cams:
            assert cam.offer(picture, person, 1000.0 + i * 1.5) is not None
        total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
        assert total <= 1024 * 1024, f"{total} bytes after {i + 1} frames of each camera"
    names = {p.name.split("-")[0] for p in tmp_path.rglob("*.jpg")}
    assert names == {"porch", "yard"}, "the newest frames of both cameras are kept"


@pytest.mark.parametrize("classes", [91, 3])
def test_a_model_that_is_not_coco80_needs_a_labels_file(tmp_path, classes):
    """Without ``detect.labels`` the names are COCO's 80: a model of more classes, or of fewer
    (which would silently get COCO's first names), is refused naming its file and the option."""
    model = tmp_path / f"custom{classes}.onnx"
    model.write_bytes(constant_model([1, 3, 640, 640], yolov8_output(classes, [])))
    with pytest.raises(ModelError, match=rf"custom{classes}\.onnx: a model of {classes} classes and no "
                                         r"labels file.*set detect\.labels") as err:
        OnnxDetector(str(model))
    assert err.value.path == str(model)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"c{i}\n" for i in range(classes)), encoding="utf-8")
    assert OnnxDetector(str(model), labels=str(labels)).labels[-1] == f"c{classes - 1}"
