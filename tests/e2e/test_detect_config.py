"""Detection configuration: merging of the global section with a camera's own, bad values
named by key path, and models checked at config time (missing file, wrong shapes: exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import cli
from bridge.config import ConfigError, camera_data, camera_from_data, parse

from ..peers import SHARED

MODEL = SHARED / "models" / "yolox_nano.onnx"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def identity_model(shape: list[int]) -> bytes:
    """A valid ONNX model (protobuf written by hand): ``y = Identity(x)``, float32 ``shape``."""
    dims = b"".join(_field(1, _field(1, d)) for d in shape)
    tensor_type = _field(1, _field(1, 1) + _field(2, dims))  # elem_type FLOAT, shape

    def value_info(name: str) -> bytes:
        return _field(1, name.encode()) + _field(2, tensor_type)

    node = _field(1, b"x") + _field(2, b"y") + _field(4, b"Identity")
    graph = _field(1, node) + _field(2, b"g") + _field(11, value_info("x")) + _field(12, value_info("y"))
    return _field(1, 8) + _field(7, graph) + _field(8, _field(2, 13))


def write_config(tmp_path: Path, detect: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"mqtt: {{host: 127.0.0.1}}\ncameras:\n  front:\n    url: 'lavfi:testsrc'\n"
                    f"    detect: {detect}\n", encoding="utf-8")
    return path


def test_camera_section_overrides_global_defaults():
    cfg = parse("mqtt: {host: x}\ndetect: {fps: 4, threshold: 0.7, motion: {threshold: 30}}\n"
                "cameras:\n  a: {url: 'lavfi:testsrc', detect: {enabled: true, objects: {person: {min_score: 0.5}, car: {}},"
                " motion: {width: 200}, zones: {door: [[0, 0], [1, 0], [1, 1]]}}}\n  b: {url: 'lavfi:testsrc'}\n", {})
    a, b = cfg.cameras["a"].detect, cfg.cameras["b"].detect
    assert a.enabled and a.fps == 4 and a.threshold == 0.7
    assert (a.motion.threshold, a.motion.width) == (30, 200)
    assert a.min_score_for("person") == 0.5 and a.min_score_for("car") == 0.35
    assert a.threshold_for("car") == 0.7 and list(a.objects) == ["person", "car"]
    assert a.kind == "opencv_hog"  # no model: the HOG detector, nothing to download
    assert not b.enabled and cfg.detect.fps == 4
    # the registry stores cameras as plain data: it validates back to the same camera
    assert camera_from_data("a", camera_data(cfg.cameras["a"])) == cfg.cameras["a"]


@pytest.mark.parametrize(("detect", "message"), [
    ("{fps: 0}", "cameras.front.detect.fps: expected a number from 0.1 to 30, got 0"),
    ("{objects: [status]}", "cameras.front.detect.objects: label 'status' would clash"),
    ("{zones: {door: [[0, 0], [2, 0], [1, 1]]}}", "cameras.front.detect.zones: expected [x, y] with 0 <= x, y <= 1"),
    ("{detector: onnx}", "cameras.front.detect.model: detector onnx needs a model file"),
    ("{motion: {threshold: 0}}", "cameras.front.detect.motion.threshold: expected an integer from 1 to 255, got 0"),
])
def test_bad_values_are_named_by_key_path(detect, message):
    with pytest.raises(ConfigError) as err:
        parse(f"mqtt: {{host: x}}\ncameras:\n  front: {{url: 'lavfi:testsrc', detect: {detect}}}\n", {})
    assert any(line.startswith(message) for line in err.value.errors), err.value.errors


def test_missing_model_is_a_config_error_naming_the_path(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "model.onnx"
    path = write_config(tmp_path, f"{{enabled: true, model: '{missing}'}}")
    assert cli.main(["check-config", "--config", str(path)]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"cameras.front.detect.model: {missing}: model file not found" in err
    assert "1x3xHxW" in err and "1x(4+C)xN" in err  # the expected shapes
    assert cli.main(["run", "--config", str(path)]) == cli.EXIT_CONFIG


@pytest.mark.parametrize("shape", [[1, 3, 64, 64], [1, 1000, 7]])
def test_model_of_the_wrong_shape_is_a_config_error(tmp_path, capsys, shape):
    model = tmp_path / "classifier.onnx"
    model.write_bytes(identity_model(shape))
    path = write_config(tmp_path, f"{{enabled: true, model: '{model}'}}")
    assert cli.main(["check-config", "--config", str(path)]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"cameras.front.detect.model: {model}: unsupported" in err
    assert "got input " + "x".join(map(str, shape)) in err
    assert "1xNx(5+C)" in err


def test_the_shared_model_passes_check_config(tmp_path, capsys):
    path = write_config(tmp_path, f"{{enabled: true, model: '{MODEL}'}}")
    assert cli.main(["check-config", "--config", str(path)]) == cli.EXIT_OK
    assert str(MODEL) in capsys.readouterr().out
