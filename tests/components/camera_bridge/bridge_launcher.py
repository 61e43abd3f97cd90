"""Real bridges for the component's real-bridge tests (test_real_bridge.py), without Home Assistant
imports.

:class:`BridgeProcess` runs Mosquitto, the shared RTSP server looping a clip made by ffmpeg, and
``python -m bridge run`` with the bridge's own venv. That needs this machine's packages and
venv, which the current-HA root of ``../shared/ha_current`` (a chroot sharing the machine's
network) does not have; so the tests there ask a launcher outside the root to start bridges for
them, over HTTP on 127.0.0.1:

    CAMERA_BRIDGE_PYTHON=.venv/bin/python .venv/bin/python -m tests.components.camera_bridge.bridge_launcher
    # prints "http://127.0.0.1:PORT"; the tests take it as --bridge-launcher=URL

and :class:`RemoteBridge` is the tests' side of it, with the same interface. :func:`bridge` picks
one. The launcher serves loopback only, runs until killed, and stops its bridges then.

Launcher routes (JSON bodies): ``POST /bridges {camera, clip, top}`` starts one and answers
:meth:`BridgeProcess.describe`; ``POST /bridges/{id}/kill_camera``; ``GET /bridges/{id}/log``
(text); ``GET /bridges/{id}/retained`` (:meth:`BridgeProcess.retained`); ``DELETE
/bridges/{id}``; ``POST /check {camera, top}`` (:func:`accepts`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import yaml

from tests.peers import REPO, SHARED, Mosquitto, RtspServer, free_port, make_clip

BRIDGE_PYTHON = Path(os.environ.get("CAMERA_BRIDGE_PYTHON", REPO / ".venv" / "bin" / "python"))
START_TIMEOUT = 30.0  #: seconds for the bridge's API to answer (a loaded CI machine is slow)
#: the bridge's MQTT discovery prefix and base topic in these tests
DISCOVERY_PREFIX = "ha_real_discovery"
BASE_TOPIC = "ha_real"
#: a string value ``shared:PATH`` in a configuration is ``PATH`` in ../shared where the bridge runs
SHARED_PREFIX = "shared:"


class BridgeError(Exception):
    """Raised when a bridge does not start (its log's tail is the message)."""


def _resolve(value: Any) -> Any:
    """``value`` with every ``shared:PATH`` string made an absolute path in ../shared."""
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, str) and value.startswith(SHARED_PREFIX):
        return str(SHARED / value.removeprefix(SHARED_PREFIX))
    return value


class BridgeProcess:
    """Mosquitto + RTSP server + ``python -m bridge run`` with an admin and a viewer API key;
    blocking :meth:`start` and :meth:`stop` (tests run them in an executor: HA forbids blocking
    its loop). ``camera``: more options of the ``front_door`` camera; ``clip``: of its clip
    (tests.peers.make_clip); ``top``: more top-level sections of the configuration (its
    ``cameras`` are added to ``front_door``)."""

    def __init__(self, camera: dict | None = None, clip: dict | None = None, top: dict | None = None) -> None:
        self.camera = _resolve(camera or {})
        self.clip = {"width": 320, "height": 240, "fps": 10, "gop": 10, "seconds": 3, **(clip or {})}
        self.top = _resolve(top or {})
        self.work = Path(tempfile.mkdtemp(prefix="ha-real-bridge-"))
        self.api_key = "cb_" + secrets.token_urlsafe(32)
        self.viewer_key = "cb_" + secrets.token_urlsafe(32)
        self.port = free_port()
        self.log = self.work / "bridge.log"
        self.broker = Mosquitto(self.work)
        self.rtsp: RtspServer | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def mqtt_port(self) -> int:
        """The broker's port on 127.0.0.1."""
        return self.broker.port

    def describe(self) -> dict[str, Any]:
        """What a test needs to reach it: ``port`` (API), ``api_key`` (admin), ``viewer_key``,
        ``mqtt_port``."""
        return {"port": self.port, "api_key": self.api_key, "viewer_key": self.viewer_key,
                "mqtt_port": self.mqtt_port}

    def start(self) -> None:
        """Start broker, RTSP server and bridge; BridgeError when the bridge's API does not
        answer within START_TIMEOUT."""
        if not BRIDGE_PYTHON.exists():
            raise BridgeError(f"the bridge's python {BRIDGE_PYTHON} is missing: run scripts/setup.sh "
                              "or set CAMERA_BRIDGE_PYTHON")
        clip = make_clip(self.work / "clip.mp4", **self.clip)
        self.broker.start()
        self.rtsp = RtspServer(clip)
        self.rtsp.start()
        config = {
            "mqtt": {"host": "127.0.0.1", "port": self.broker.port, "base_topic": BASE_TOPIC,
                     "discovery_prefix": DISCOVERY_PREFIX, "ha_status_topic": f"{DISCOVERY_PREFIX}/status"},
            "cameras": {"front_door": {"name": "Front door", "url": self.rtsp.url, "snapshot": {"interval": 1},
                                       **self.camera}, **self.top.get("cameras", {})},
            "api": {"host": "127.0.0.1", "port": self.port, "auth": "required", "keys": [
                {"name": "home-assistant", "role": "admin",
                 "hash": "sha256:" + hashlib.sha256(self.api_key.encode()).hexdigest()},
                {"name": "dashboard", "role": "viewer",
                 "hash": "sha256:" + hashlib.sha256(self.viewer_key.encode()).hexdigest()}]},
            "data_dir": str(self.work / "data"),
            **{k: v for k, v in self.top.items() if k != "cameras"},
        }
        (self.work / "config.yaml").write_text(yaml.safe_dump(config))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(BRIDGE_PYTHON), "-m", "bridge", "run", "--config", str(self.work / "config.yaml")],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.work)
        self._wait_alive()

    def _wait_alive(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BridgeError(f"the bridge exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/alive", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise BridgeError(f"the bridge's API did not answer within {START_TIMEOUT} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the bridge's log."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def kill_camera(self) -> None:
        """Kill the camera (the RTSP server), as a camera losing power."""
        assert self.rtsp is not None
        self.rtsp.kill()

    def retained(self, settle: float = 2.0) -> dict[str, str]:
        """Every retained text message on the broker (topic -> payload; the bridge's discovery
        configs and states, not its JPEG snapshots), read with ``mosquitto_sub`` for ``settle``
        seconds."""
        out = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-t", "#",
                              "--retained-only", "-W", str(max(1, int(settle))), "-F", "%t\t%x"],
                             capture_output=True, timeout=settle + 10, check=False)
        found: dict[str, str] = {}
        for line in out.stdout.decode().splitlines():
            topic, _, payload = line.partition("\t")
            try:
                found[topic] = bytes.fromhex(payload).decode()
            except ValueError:  # binary (UnicodeDecodeError is one)
                continue
        return found

    def stop(self) -> None:
        """Stop the bridge, the RTSP server and the broker; remove the work folder."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.rtsp is not None:
            self.rtsp.stop()
        self.broker.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def accepts(camera: dict | None = None, top: dict | None = None) -> bool:
    """Whether this checkout's bridge accepts a configuration with these camera options and
    top-level sections (``bridge check-config``; features of later issues: detection, ...)."""
    work = Path(tempfile.mkdtemp(prefix="ha-feature-check-"))
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump({"mqtt": {"host": "127.0.0.1"}, "cameras": {
        "c": {"url": "lavfi:testsrc2", **_resolve(camera or {})}}, "data_dir": str(work), **_resolve(top or {})}))
    if not BRIDGE_PYTHON.exists():
        return True  # starting the bridge reports the missing python
    try:
        result = subprocess.run([str(BRIDGE_PYTHON), "-m", "bridge", "check-config", "--config", str(config)],
                                env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, timeout=60,
                                check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result.returncode == 0


class RemoteBridge:
    """A :class:`BridgeProcess` run by the launcher at ``url`` (same interface; no ``work``)."""

    def __init__(self, url: str, camera: dict | None = None, clip: dict | None = None,
                 top: dict | None = None) -> None:
        self.url = url.rstrip("/")
        self._spec = {"camera": camera or {}, "clip": clip or {}, "top": top or {}}
        self.id: str | None = None
        self.port = self.mqtt_port = 0
        self.api_key = self.viewer_key = ""

    def _call(self, method: str, path: str, body: Any = None, timeout: float = START_TIMEOUT + 90) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as err:
            raise BridgeError(f"launcher: {err.code} {err.read().decode(errors='replace')}") from None
        return json.loads(text) if resp.headers.get("Content-Type") == "application/json" else text

    def start(self) -> None:
        """Have the launcher start it (BridgeError with the bridge's log when it does not)."""
        answer = self._call("POST", "/bridges", self._spec)
        self.id = answer["id"]
        self.port, self.mqtt_port = answer["port"], answer["mqtt_port"]
        self.api_key, self.viewer_key = answer["api_key"], answer["viewer_key"]

    def log_tail(self, chars: int = 3000) -> str:
        return self._call("GET", f"/bridges/{self.id}/log")[-chars:] if self.id else ""

    def kill_camera(self) -> None:
        self._call("POST", f"/bridges/{self.id}/kill_camera", {})

    def retained(self, settle: float = 2.0) -> dict[str, str]:
        return self._call("GET", f"/bridges/{self.id}/retained")

    def stop(self) -> None:
        if self.id is not None:
            self._call("DELETE", f"/bridges/{self.id}")
            self.id = None

    def accepts(self, camera: dict | None = None, top: dict | None = None) -> bool:
        return bool(self._call("POST", "/check", {"camera": camera or {}, "top": top or {}})["ok"])


def bridge(launcher: str | None, camera: dict | None = None, clip: dict | None = None,
           top: dict | None = None) -> BridgeProcess | RemoteBridge:
    """A bridge started here, or by the launcher at ``launcher`` when one is given."""
    if launcher:
        return RemoteBridge(launcher, camera, clip, top)
    return BridgeProcess(camera, clip, top)


def bridge_accepts(launcher: str | None, camera: dict | None = None, top: dict | None = None) -> bool:
    """:func:`accepts`, asked here or of the launcher."""
    return RemoteBridge(launcher).accepts(camera, top) if launcher else accepts(camera, top)


class _Launcher(BaseHTTPRequestHandler):
    bridges: ClassVar[dict[str, BridgeProcess]] = {}
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the tests' output is what matters

    def _answer(self, status: int, body: Any) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(text.encode())))
        self.end_headers()
        self.wfile.write(text.encode())

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _bridge(self) -> BridgeProcess | None:
        parts = self.path.strip("/").split("/")
        return self.bridges.get(parts[1]) if len(parts) >= 2 and parts[0] == "bridges" else None

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/bridges":
            proc = BridgeProcess(body.get("camera"), body.get("clip"), body.get("top"))
            try:
                proc.start()
            except Exception as err:  # noqa: BLE001 - any start failure goes back to the test
                proc.stop()
                self._answer(500, str(err))
                return
            bridge_id = secrets.token_hex(6)
            with self.lock:
                self.bridges[bridge_id] = proc
            self._answer(200, {"id": bridge_id, **proc.describe()})
        elif self.path == "/check":
            self._answer(200, {"ok": accepts(body.get("camera"), body.get("top"))})
        elif self.path.endswith("/kill_camera") and (proc := self._bridge()) is not None:
            proc.kill_camera()
            self._answer(200, {})
        else:
            self._answer(404, f"no route POST {self.path}")

    def do_GET(self) -> None:
        proc = self._bridge()
        if proc is not None and self.path.endswith("/log"):
            self._answer(200, proc.log_tail(20000))
        elif proc is not None and self.path.endswith("/retained"):
            self._answer(200, proc.retained())
        else:
            self._answer(404, f"no route GET {self.path}")

    def do_DELETE(self) -> None:
        parts = self.path.strip("/").split("/")
        with self.lock:
            proc = self.bridges.pop(parts[1], None) if len(parts) == 2 else None
        if proc is None:
            self._answer(404, f"no bridge {self.path}")
            return
        proc.stop()
        self._answer(200, {})


def main() -> None:
    """Serve on a free loopback port (printed as the launcher's URL, then flushed) until
    killed (SIGTERM or SIGINT); stop every bridge still running."""
    import signal

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Launcher)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in list(_Launcher.bridges.values()):
            proc.stop()
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
