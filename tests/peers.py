"""Real peers for tests: a Mosquitto broker, the shared RTSP server, ffmpeg clips, an MQTT
recorder. Used by conftest.py fixtures, by bench/ and by the Home Assistant component's
real-bridge test (which runs in the HA venv: aiomqtt, a bridge dependency, is imported only by
the MQTT helpers that need it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


REPO = Path(__file__).resolve().parent.parent
#: the test data folder (media, models, the RTSP server, the Home Assistant probe): beside the
#: checkout, or wherever CAMERA_BRIDGE_TEST_DATA points
SHARED = Path(os.environ.get("CAMERA_BRIDGE_TEST_DATA") or REPO.parent / "shared")
PEDESTRIANS = SHARED / "media" / "pedestrians_720p.mp4"
RTSP_SERVER = SHARED / "rtsp" / "rtsp_loop_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # the RTSP server needs Debian's gi bindings


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_clip(out: Path, *, width: int = 1280, height: int = 720, fps: int = 25, gop: int = 25,
              seconds: float = 8, codec_args: tuple[str, ...] = ("-c:v", "libx264", "-preset",
              "veryfast", "-bf", "0"), src: Path = PEDESTRIANS) -> Path:
    """Make a camera-like clip from the shared footage with ffmpeg (cached by path)."""
    if out.exists():
        return out
    tmp = out.with_suffix(".part" + out.suffix)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-t", str(seconds),
         "-vf", f"scale={width}:{height},fps={fps}", *codec_args, "-g", str(gop), "-an", str(tmp)],
        check=True,
    )
    tmp.rename(out)
    return out


class Mosquitto:
    """A real Mosquitto broker on a free loopback port; can be stopped and restarted."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.conf = workdir / f"mosquitto-{self.port}.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             "persistence false\nuser root\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


class RtspServer:
    """The shared gst-rtsp-server looping ``clip`` at rtsp://127.0.0.1:PORT/cam."""

    def __init__(self, clip: Path, port: int | None = None, mount: str = "cam") -> None:
        self.clip = clip
        self.port = port or free_port()
        self.mount = mount
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.mount}"

    def url_with_credentials(self, user: str, password: str) -> str:
        return f"rtsp://{user}:{password}@127.0.0.1:{self.port}/{self.mount}"

    def start(self) -> None:
        """Start the server (its output goes to :attr:`log`, never to an undrained pipe that
        would block it once full) and wait for its READY line. Raises RuntimeError."""
        fd, name = tempfile.mkstemp(prefix="rtsp-server-", suffix=".log")
        os.close(fd)
        self.log = Path(name)
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 15
        while "READY" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start: {self.log_tail()!r}")
            time.sleep(0.02)

    def command(self) -> list[str]:
        """The server's command line."""
        return [SYSTEM_PYTHON, str(RTSP_SERVER), str(self.clip), str(self.port), self.mount]

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server printed."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        """Whether the server process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the stream hangs without closing (what a frozen camera does)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


@contextlib.contextmanager
def kept_alive(server: RtspServer) -> Iterator[RtspServer]:
    """Start ``server`` and restart it on its port within ~0.2 s whenever it exits, until the
    block ends, then stop it. gst-rtsp-server sometimes aborts on a client's disconnect
    (``gst_rtsp_media_get_rates: assertion failed``); for servers shared by a module or the
    session this keeps a crash of the test peer from failing every later test. Not for servers a
    test kills on purpose."""
    server.start()
    done = threading.Event()
    watchdog = threading.Thread(target=_keep_alive, args=(server, done), name="rtsp-watchdog", daemon=True)
    watchdog.start()
    try:
        yield server
    finally:
        done.set()
        watchdog.join(5)
        server.stop()


def _keep_alive(server: RtspServer, done: threading.Event) -> None:
    while not done.wait(0.2):
        if not server.alive():
            print(f"RTSP server on {server.port} had exited ({server.log_tail(5)!r}); restarting it")
            try:
                server.start()
            except RuntimeError as err:
                print(f"RTSP server on {server.port} did not restart: {err}")


class AuthRtspServer(RtspServer):
    """The shared RTSP server with HTTP Basic auth: answers 401 unless the URL carries ``user``
    and ``password`` (tests/rtsp_auth_server.py)."""

    def __init__(self, clip: Path, user: str, password: str, port: int | None = None,
                 mount: str = "cam") -> None:
        super().__init__(clip, port, mount)
        self.user, self.password = user, password

    def command(self) -> list[str]:
        return [SYSTEM_PYTHON, str(Path(__file__).with_name("rtsp_auth_server.py")), str(RTSP_SERVER),
                str(self.clip), str(self.port), self.mount, self.user, self.password]


def wait_port(port: int, timeout: float = 10) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {port}")


@dataclass
class Received:
    """One message as a subscriber saw it (``at`` = monotonic arrival time)."""

    topic: str
    payload: bytes
    retain: bool
    at: float


@dataclass
class MqttRecorder:
    """Subscribes to topic filters on a real broker and records every message."""

    port: int
    filters: list[str]
    messages: list[Received] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> "MqttRecorder":
        self._task = asyncio.create_task(self._run(), name="test.recorder")
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        import aiomqtt

        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port) as client:
                    for f in self.filters:
                        await client.subscribe(f)
                    self._ready.set()
                    async for msg in client.messages:
                        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
                        self.messages.append(Received(msg.topic.value, payload, msg.retain, time.monotonic()))
                        self._changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)  # broker restarting in a test: resubscribe

    def on(self, topic: str, since: float = 0.0) -> list[Received]:
        """Messages on ``topic`` that arrived after monotonic time ``since``."""
        return [m for m in self.messages if m.topic == topic and m.at >= since]

    async def wait(self, predicate: Callable[[], Any], timeout: float = 15, what: str = "") -> Any:
        """Wait until ``predicate()`` is truthy; return its value. Raises AssertionError on
        timeout, naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))

    async def next_on(self, topic: str, since: float, timeout: float = 15) -> Received:
        """The first message on ``topic`` after ``since``."""
        return await self.wait(lambda: (self.on(topic, since) or [None])[0], timeout, f"a message on {topic}")


async def retained(port: int, filters: list[str], settle: float = 1.0) -> dict[str, bytes]:
    """What a new subscriber receives as retained on ``filters`` (topic -> payload)."""
    import aiomqtt

    found: dict[str, bytes] = {}
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for f in filters:
            await client.subscribe(f)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settle):
                async for msg in client.messages:
                    if msg.retain:
                        found[msg.topic.value] = bytes(msg.payload)  # type: ignore[arg-type]
    return found


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
