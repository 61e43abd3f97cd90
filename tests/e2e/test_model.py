"""`camera-bridge model download yolox-nano`: fetched from a (local) HTTP server, checked against
the pinned SHA-256, saved atomically, the `detect.model` line printed; a wrong checksum, an HTTP
error and a server that is down save nothing and say what to do offline. No test reaches the
internet: the URL is given with --url."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from bridge.model import MODELS

from ..peers import REPO, SHARED, free_port

MODEL = SHARED / "models" / "yolox_nano.onnx"
PINNED = MODELS["yolox-nano"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on loopback serving ``root`` (a good copy and a damaged one)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "yolox_nano.onnx").write_bytes(MODEL.read_bytes())
    damaged = bytearray(MODEL.read_bytes())
    damaged[1000] ^= 0xFF
    (root / "damaged.onnx").write_bytes(bytes(damaged))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, name="test.http", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def download(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "model", "download", "yolox-nano", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_the_pin_is_the_known_good_file():
    assert hashlib.sha256(MODEL.read_bytes()).hexdigest() == PINNED.sha256
    assert MODEL.stat().st_size == PINNED.size
    assert PINNED.url.startswith("https://github.com/Megvii-BaseDetection/YOLOX/releases/download/")


def test_download_saves_the_checked_model_and_prints_a_config_line_that_loads(server, tmp_path):
    base, _ = server
    models = tmp_path / "models"
    result = download("--dir", str(models), "--url", f"{base}/yolox_nano.onnx", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    saved = models / "yolox_nano.onnx"
    assert saved.read_bytes() == MODEL.read_bytes()
    assert [p.name for p in models.iterdir()] == ["yolox_nano.onnx"]  # no temporary file left
    assert f"{saved}: downloaded and checked (sha256 {PINNED.sha256})" in result.stdout
    snippet = result.stdout.split("under cameras.<id>.detect):\n\n", 1)[1]
    assert yaml.safe_load(snippet) == {"detect": {"model": str(saved)}}

    config = tmp_path / "config.yaml"
    config.write_text("mqtt: {host: 127.0.0.1}\n" + snippet
                      + "cameras:\n  cam:\n    url: lavfi:testsrc2\n    detect: {enabled: true}\n")
    check = subprocess.run([sys.executable, "-m", "bridge", "check-config", "--config", str(config)],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60, env={"PYTHONPATH": str(REPO)})
    assert check.returncode == 0, check.stderr

    again = download("--dir", str(models), "--url", f"{base}/missing.onnx", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # checked file present: no download at all
    assert "already there, checked" in again.stdout


def test_a_checksum_mismatch_saves_nothing(server, tmp_path):
    base, _ = server
    result = download("--dir", "models", "--url", f"{base}/damaged.onnx", cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert f"checksum mismatch for {base}/damaged.onnx" in line
    assert f"expected {PINNED.sha256}" in line and "nothing saved" in line
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_an_http_error_saves_nothing_and_says_what_to_do_offline(server, tmp_path):
    base, _ = server
    result = download("--dir", "models", "--url", f"{base}/gone.onnx", cwd=tmp_path)
    assert result.returncode == 1
    assert f"{base}/gone.onnx answered 404" in result.stderr
    assert f"offline? fetch {PINNED.url}" in result.stderr
    assert f"sha256sum {Path('models') / 'yolox_nano.onnx'}` must print {PINNED.sha256}" in result.stderr


def test_a_server_that_is_down_says_so_and_what_to_do_offline(tmp_path):
    port = free_port()
    result = download("--dir", "models", "--url", f"http://127.0.0.1:{port}/yolox_nano.onnx", cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot download http://127.0.0.1:{port}/yolox_nano.onnx: Connection refused" in result.stderr
    assert "offline? fetch" in result.stderr
    assert not (tmp_path / "models").exists()


def test_detection_doc_shows_what_the_command_prints(server, tmp_path):
    text = (REPO / "docs" / "detection.md").read_text(encoding="utf-8")
    block = text.split("$ camera-bridge model download yolox-nano --dir /var/lib/camera-bridge/models\n", 1)[1]
    shown = block.split("```", 1)[0]
    base, _ = server
    result = download("--dir", str(tmp_path / "models"), "--url", f"{base}/yolox_nano.onnx", cwd=tmp_path)
    assert result.stdout == shown.replace("/var/lib/camera-bridge/models", str(tmp_path / "models"))
