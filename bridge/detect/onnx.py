"""ONNX object detector (onnxruntime): YOLOX raw-head and YOLOv8/YOLO11 output layouts.

Pre-processing is a letterbox: the image is resized keeping its aspect ratio so that it fits
the model input, and padded right/bottom with grey 114. Layouts, read from the output shape:

* **YOLOX** (Megvii, https://github.com/Megvii-BaseDetection/YOLOX, ``demo/ONNXRuntime``):
  output ``1xNx(5+C)``, N = cells of the stride 8, 16 and 32 grids; each row is the raw head
  ``(x, y, w, h, objectness, C class scores)``: ``xy = (xy + grid) * stride``,
  ``wh = exp(wh) * stride``, score = objectness x class score. Input BGR 0..255.
* **YOLOv8 / YOLO11** (Ultralytics export): output ``1x(4+C)xN``, rows ``cx, cy, w, h`` in input
  pixels then C class scores (no objectness). Input RGB 0..1.

Boxes are mapped back to the image and filtered with per-class NMS (IoU 0.45).
"""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np

from .detector import Detection, ModelError, nms, read_labels

_LOGGER = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
NMS_IOU = 0.45
PAD_VALUE = 114
EXPECTED = (
    "input 1x3xHxW float32 (H, W multiples of 32); output 1xNx(5+C) (YOLOX raw head, "
    "N = HW/64 + HW/256 + HW/1024) or 1x(4+C)xN (YOLOv8/YOLO11)"
)


def _cells(height: int, width: int) -> int:
    return sum((height // s) * (width // s) for s in STRIDES)


class OnnxDetector:
    """Runs an ONNX detection model on CPU with ``threads`` intra-op threads.

    Raises :class:`ModelError` (naming ``path`` and the expected shapes) when the file is
    missing, is not an ONNX model, or has an unsupported input/output shape.
    """

    name = "onnx"

    def __init__(self, path: str, *, labels: str | None = None, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:  # pragma: no cover - an optional dependency
            raise ModelError(path, "onnxruntime is not installed (pip install 'camera-bridge[detect]')") from err
        if not os.path.isfile(path):
            raise ModelError(path, f"model file not found (expected an ONNX model with {EXPECTED})")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ModelError(
                path, f"not a loadable ONNX model ({err.__class__.__name__}); expected {EXPECTED}"
            ) from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        shape_in = list(inputs[0].shape) if len(inputs) == 1 else []
        shape_out = list(outputs[0].shape) if outputs else []
        got = f"got input {_fmt(shape_in)}, output {_fmt(shape_out)}"
        if len(shape_in) != 4 or shape_in[1] != 3 or inputs[0].type != "tensor(float)":
            raise ModelError(path, f"unsupported input shape: expected {EXPECTED}; {got}")
        height = shape_in[2] if isinstance(shape_in[2], int) else 640
        width = shape_in[3] if isinstance(shape_in[3], int) else 640
        if height % 32 or width % 32 or len(shape_out) != 3:
            raise ModelError(path, f"unsupported shape: expected {EXPECTED}; {got}")
        cells = _cells(height, width)
        rows, cols = shape_out[1], shape_out[2]
        if rows == cells and isinstance(cols, int) and cols > 5:
            self.layout, classes = "yolox", cols - 5
        elif cols == cells and isinstance(rows, int) and rows > 4:
            self.layout, classes = "yolov8", rows - 4
        else:
            raise ModelError(
                path,
                f"unsupported output shape: expected {EXPECTED} with N = {cells} for a {width}x{height} input; {got}",
            )
        self.path = path
        self.size = (width, height)
        self._input = inputs[0].name
        self.labels = read_labels(labels, classes, path)
        if self.layout == "yolox":
            grids, strides = [], []
            for s in STRIDES:
                ys, xs = np.mgrid[0 : height // s, 0 : width // s]
                grids.append(np.stack((xs, ys), -1).reshape(-1, 2))
                strides.append(np.full((grids[-1].shape[0], 1), s))
            self._grid = np.concatenate(grids).astype(np.float32)
            self._stride = np.concatenate(strides).astype(np.float32)
        _LOGGER.info(
            "detector: %s (%s, %dx%d, %d classes, %d thread(s))", path, self.layout, width, height, classes, threads
        )

    def detect(self, image: np.ndarray, min_score: float) -> list[Detection]:
        """Objects in ``image`` (``HxWx3 uint8 BGR``) scoring at least ``min_score`` (0..1),
        boxes in its pixels. Blocking: about 15-20 ms for YOLOX-Nano 416 on one core."""
        width, height = self.size
        scale = min(width / image.shape[1], height / image.shape[0])
        new_w, new_h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
        padded = np.full((height, width, 3), PAD_VALUE, np.uint8)
        padded[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if self.layout == "yolov8":
            blob = padded[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        else:
            blob = padded.transpose(2, 0, 1)[None].astype(np.float32)
        out = self._session.run(None, {self._input: np.ascontiguousarray(blob)})[0][0]
        if self.layout == "yolox":
            xy = (out[:, :2] + self._grid) * self._stride
            wh = np.exp(np.clip(out[:, 2:4], -10, 10)) * self._stride
            class_scores = out[:, 5:] * out[:, 4:5]
        else:
            out = out.T
            xy, wh, class_scores = out[:, :2], out[:, 2:4], out[:, 4:]
        classes = class_scores.argmax(1)
        scores = class_scores[np.arange(len(classes)), classes]
        keep = scores >= min_score
        if not keep.any():
            return []
        xy, wh, scores, classes = xy[keep], wh[keep], scores[keep], classes[keep]
        boxes = np.concatenate((xy - wh / 2, xy + wh / 2), 1) / scale
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, image.shape[1])
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, image.shape[0])
        return [
            Detection(self.labels[int(classes[i])], float(scores[i]), tuple(float(v) for v in boxes[i]))  # type: ignore[arg-type]
            for i in nms(boxes, scores, classes, NMS_IOU)
        ]


def _fmt(shape: list[object]) -> str:
    return "x".join(str(d) if isinstance(d, int) else "?" for d in shape) or "(none)"
