"""The systemd unit (systemd/camera-bridge.service) and the bridge's sd_notify protocol.

The unit is checked with the real ``systemd-analyze``; the notify protocol with the real bridge
(``python -m bridge run``) talking to a datagram socket that plays systemd's part.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bridge.cli import EXIT_CONFIG, EXIT_OK

from ..conftest import recording
from ..peers import REPO, env_without

UNIT = REPO / "systemd" / "camera-bridge.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
INSTALLED_EXEC = "/opt/camera-bridge/venv/bin/camera-bridge"
LAVFI = "lavfi:testsrc2=size=320x240:rate=5"

needs_analyze = pytest.mark.skipif(not Path(SYSTEMD_ANALYZE).exists(), reason="no systemd-analyze")


def unit_settings(text: str) -> dict[str, list[str]]:
    """``Key`` -> every value it is given in the unit (all sections; comments dropped)."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


# ---------------------------------------------------------------------------------------------
# the unit file


def _unit_for_this_venv(tmp_path: Path) -> Path:
    """The unit with only ExecStart's executable replaced by this venv's ``camera-bridge``
    (``verify`` checks that the executable exists)."""
    exe = Path(sys.executable).parent / "camera-bridge"
    assert os.access(exe, os.X_OK), f"{exe} missing: is the bridge installed in this venv?"
    text = UNIT.read_text()
    assert text.count(f"ExecStart={INSTALLED_EXEC} ") == 1, "ExecStart no longer runs the documented path"
    patched = text.replace(f"ExecStart={INSTALLED_EXEC} ", f"ExecStart={exe} ")
    changed = [(a, b) for a, b in zip(text.splitlines(), patched.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("ExecStart="), changed
    unit = tmp_path / UNIT.name
    unit.write_text(patched)
    return unit


@needs_analyze
def test_unit_passes_systemd_analyze_verify_without_any_warning(tmp_path):
    unit = _unit_for_this_venv(tmp_path)
    # verify exits 0 on warnings (unknown keys, unparsable values are "ignoring" messages on
    # stderr), so any output at all fails the test. No --man=no: the unit's Documentation= is
    # not a man: page, and if one is ever added it must exist.
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert result.stdout == "", result.stdout


@needs_analyze
def test_verify_catches_a_broken_line(tmp_path):
    """The check above can fail: a misspelt hardening key only gives a warning on stderr."""
    unit = _unit_for_this_venv(tmp_path)
    unit.write_text(unit.read_text().replace("ProtectClock=yes", "ProtectClok=yes"))
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0  # why the stderr check is needed
    assert "Unknown key 'ProtectClok'" in result.stderr


@needs_analyze
def test_unit_is_hardened(tmp_path):
    """``systemd-analyze security`` rates the unit's exposure (0 = locked down, 10 = none);
    the shipped unit scores 1.7. A lost DynamicUser= or system call filter raises it above 2."""
    unit = tmp_path / UNIT.name
    shutil.copy(UNIT, unit)
    result = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(unit)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout[-2000:]
    exposed = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert float(found.group(1)) <= 2.0, "\n".join([found.group(0), *exposed])


def test_unit_matches_the_bridge():
    """Paths and exit codes the unit relies on agree with each other and with the CLI."""
    settings = unit_settings(UNIT.read_text())
    one = {key: values[-1] for key, values in settings.items()}
    conf_dir = f"/etc/{one['ConfigurationDirectory']}"
    argv = one["ExecStart"].split()
    assert argv[0] == INSTALLED_EXEC and argv[1] == "run"
    assert argv[argv.index("--config") + 1] == f"{conf_dir}/config.yaml"
    assert one["EnvironmentFile"] == f"-{conf_dir}/env"  # optional, next to the config
    # an invalid configuration exits EXIT_CONFIG: restarting in a loop cannot fix it
    assert str(EXIT_CONFIG) in one["RestartPreventExitStatus"].split()
    assert one["Restart"] == "on-failure"
    # the bridge speaks sd_notify from its main process (no wrapper shell)
    assert (one["Type"], one["NotifyAccess"]) == ("notify", "main")
    assert one["SupplementaryGroups"] == "video" and "char-video4linux rw" in settings["DeviceAllow"]
    assert set(one["RestrictAddressFamilies"].split()) >= {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}


OPERATIONS_DOC = REPO / "docs" / "operations.md"


def service_settings(text: str) -> list[tuple[str, str]]:
    """(key, value) of every line of the unit's [Service] section, in order."""
    out, in_service = [], False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            in_service = line == "[Service]"
        elif in_service and line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def doc_section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    nxt = re.search(r"^## ", text[start + len(heading) + 2:], flags=re.MULTILINE)
    return text[start:start + len(heading) + 2 + nxt.start()] if nxt else text[start:]


def test_operations_doc_describes_the_unit():
    """docs/operations.md explains every [Service] setting, its sandbox table gives the unit's
    values, and what it says is deliberately not set is not set."""
    unit = service_settings(UNIT.read_text())
    doc = OPERATIONS_DOC.read_text(encoding="utf-8")
    sandbox = doc_section(doc, "## The sandbox")
    not_set_par = re.search(r"^Not set on purpose.*?(?:\n\n|\Z)", sandbox, flags=re.MULTILINE | re.DOTALL)
    assert not_set_par, "the sandbox section no longer lists what is not set on purpose"
    described = doc.replace(not_set_par.group(0), "")
    undocumented = sorted({key for key, _ in unit if f"`{key}=" not in described})
    assert not undocumented, f"[Service] settings not explained in docs/operations.md: {undocumented}"

    values: dict[str, list[str]] = {}
    for key, value in unit:
        values.setdefault(key, []).append(value)
    table_cells = [line.split(" | ")[0] for line in sandbox.splitlines() if line.startswith("| `")]
    documented = [m for cell in table_cells for m in re.findall(r"`([A-Za-z]+)=([^`]*)`", cell)]
    assert len(documented) > 20, documented
    wrong = [f"{k}={v}" for k, v in documented if v not in values.get(k, [])]
    assert not wrong, f"the sandbox table says {wrong}; the unit has other values (or none)"

    not_set = re.findall(r"`([A-Za-z]+)=[^`]*`", not_set_par.group(0))
    assert not_set, not_set_par.group(0)
    contradicted = [k for k in not_set if k in values]
    assert not contradicted, f"documented as not set, but the unit sets {contradicted}"

    for path in (INSTALLED_EXEC, "/etc/camera-bridge/config.yaml", "/etc/camera-bridge/env"):
        assert f"`{path}`" in doc, f"docs/operations.md does not name {path}"


# ---------------------------------------------------------------------------------------------
# sd_notify with the real bridge


@contextlib.contextmanager
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket playing systemd's NOTIFY_SOCKET, bound in tmp_path (or a shorter
    temporary directory when tmp_path would exceed the 108-byte AF_UNIX path limit)."""
    directory = tmp_path
    short = None
    if len(str(tmp_path / "notify")) > 100:
        directory = short = Path(tempfile.mkdtemp(prefix="sdn"))
    path = str(directory / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(path)
        sock.setblocking(False)
        yield sock, path
    finally:
        sock.close()
        if short is not None:
            shutil.rmtree(short, ignore_errors=True)


class Notifications:
    """What the bridge told "systemd": (monotonic arrival time, fields) per datagram."""

    def __init__(self, sock: socket.socket, log: Path) -> None:
        self.sock = sock
        self.log = log
        self.received: list[tuple[float, list[str]]] = []

    async def next(self, timeout: float) -> list[str] | None:
        """The next datagram's fields, or None after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        try:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 4096), timeout)
        except TimeoutError:
            return None
        fields = data.decode().split("\n")
        self.received.append((time.monotonic(), fields))
        return fields

    async def until(self, field: str, timeout: float) -> float:
        """Wait for a datagram carrying ``field``; return its arrival time."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            fields = await self.next(remaining)
            if fields is not None and field in fields:
                return self.received[-1][0]
        raise AssertionError(f"no {field} within {timeout} s; got {self.received}\n{self.tail()}")

    async def first(self, proc: asyncio.subprocess.Process, timeout: float) -> list[str]:
        """The first datagram; fails at once if the bridge exits before sending one."""
        recv = asyncio.ensure_future(self.next(timeout))
        exited = asyncio.ensure_future(proc.wait())
        await asyncio.wait({recv, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not recv.done():
            recv.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recv
            raise AssertionError(f"bridge exited ({proc.returncode}) before notifying\n{self.tail()}")
        exited.cancel()
        fields = recv.result()
        assert fields is not None, f"no notification within {timeout} s\n{self.tail()}"
        return fields

    def times(self, field: str) -> list[float]:
        return [at for at, fields in self.received if field in fields]

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "bridge log:\n" + "\n".join(text.splitlines()[-30:])


def write_config(tmp_path: Path, port: int, prefix: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "mqtt": {"host": "127.0.0.1", "port": port, "base_topic": prefix,
                 "discovery_prefix": f"{prefix}_ha", "status_interval": 2},
        "cameras": {"test": {"url": LAVFI}},
        "api": {"port": 0}, "data_dir": str(tmp_path / "data"),
    }))
    return config


async def start_bridge(config: Path, notify_path: str, log: Path,
                       **env: str) -> asyncio.subprocess.Process:
    """``python -m bridge run --config CONFIG`` as systemd would start it: NOTIFY_SOCKET set,
    no inherited WATCHDOG_*/CAMERA_BRIDGE_* variables; ``env`` adds more."""
    environ = env_without("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                          *(k for k in os.environ if k.startswith("CAMERA_BRIDGE_")))
    environ.update(NOTIFY_SOCKET=notify_path, **env)
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "run", "--config", str(config),
            cwd=REPO, env=environ, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def test_bridge_notifies_ready_pings_the_watchdog_and_stops_cleanly(broker, prefix, tmp_path):
    config = write_config(tmp_path, broker.port, prefix)
    log = tmp_path / "bridge.log"
    availability = f"{prefix}/bridge/availability"
    with notify_socket(tmp_path) as (sock, path):
        notes = Notifications(sock, log)
        async with recording(broker.port, prefix) as rec:
            proc = await start_bridge(config, path, log, WATCHDOG_USEC="1000000")
            try:
                # READY=1 (with a STATUS=) is the first thing "systemd" hears
                first = await notes.first(proc, 60)
                assert "READY=1" in first, first
                assert any(f.startswith("STATUS=") and "1 camera" in f for f in first), first
                ready_at = notes.received[-1][0]

                # WatchdogSec=1 s: a ping every 0.5 s, never a gap systemd would kill for
                while len(notes.times("WATCHDOG=1")) < 4:
                    fields = await notes.next(2.0)
                    assert fields is not None, f"watchdog pings stopped: {notes.received}\n{notes.tail()}"
                pings = notes.times("WATCHDOG=1")
                assert pings[0] - ready_at < 0.5, "first ping should follow READY at once"
                gaps = [b - a for a, b in zip(pings, pings[1:])]
                assert all(0.3 < gap < 0.9 for gap in gaps), gaps

                # while "systemd" considers it ready, the bridge is really on MQTT
                await rec.wait(lambda: any(m.payload == b"online" for m in rec.on(availability)),
                               15, "bridge online on MQTT")

                # systemctl stop: SIGTERM -> STOPPING=1 -> exit 0 with "offline" published
                proc.send_signal(signal.SIGTERM)
                stopping_at = await notes.until("STOPPING=1", 15)
                code = await asyncio.wait_for(proc.wait(), 20)
                assert code == EXIT_OK, f"exit status {code}\n{notes.tail()}"
                await rec.wait(lambda: rec.on(availability) and rec.on(availability)[-1].payload == b"offline",
                               5, "bridge offline on MQTT")
            finally:
                await stop(proc)
        while await notes.next(0.2) is not None:  # the process is gone: read what it left
            pass
    assert not [t for t in notes.times("WATCHDOG=1") if t > stopping_at], \
        f"watchdog pinged after STOPPING=1: {notes.received}"
    assert notes.times("READY=1") == [ready_at], f"READY=1 sent more than once: {notes.received}"


async def test_watchdog_belongs_to_the_main_process_only(broker, prefix, tmp_path):
    """WATCHDOG_PID names another process (the bridge inherited systemd's variables, e.g. run
    from a service's shell): it must report READY but leave the watchdog alone."""
    config = write_config(tmp_path, broker.port, prefix)
    log = tmp_path / "bridge.log"
    with notify_socket(tmp_path) as (sock, path):
        notes = Notifications(sock, log)
        proc = await start_bridge(config, path, log, WATCHDOG_USEC="1000000",
                                  WATCHDOG_PID=str(os.getpid()))
        try:
            assert "READY=1" in await notes.first(proc, 60), notes.received
            quiet_until = time.monotonic() + 1.5  # three ping periods
            while (left := quiet_until - time.monotonic()) > 0:
                await notes.next(left)
            assert notes.times("WATCHDOG=1") == [], notes.received
            proc.send_signal(signal.SIGTERM)
            await notes.until("STOPPING=1", 15)
            assert await asyncio.wait_for(proc.wait(), 20) == EXIT_OK, notes.tail()
        finally:
            await stop(proc)


async def test_invalid_config_exits_2_without_ready(tmp_path):
    """The unit's RestartPreventExitStatus=2 relies on this: no READY, exit status 2."""
    config = tmp_path / "config.yaml"
    config.write_text("mqtt: {port: 1883}\ncameras: {test: {url: 'lavfi:testsrc2'}}\n")
    log = tmp_path / "bridge.log"
    with notify_socket(tmp_path) as (sock, path):
        notes = Notifications(sock, log)
        proc = await start_bridge(config, path, log, WATCHDOG_USEC="1000000")
        try:
            code = await asyncio.wait_for(proc.wait(), 30)
        finally:
            await stop(proc)
        assert await notes.next(0.2) is None, notes.received
    assert code == EXIT_CONFIG, notes.tail()
    assert "mqtt.host: required key missing" in log.read_text(), notes.tail()


def test_journal_lines_carry_their_syslog_priority():
    import logging

    from bridge.cli import JournalFormatter

    def line(level: int) -> str:
        record = logging.LogRecord("bridge.camera", level, __file__, 1, "camera %s: down", ("cam",), None)
        return JournalFormatter().format(record)

    assert line(logging.WARNING) == "<4>WARNING bridge.camera: camera cam: down"
    assert line(logging.ERROR).startswith("<3>") and line(logging.INFO).startswith("<6>")
    assert line(logging.DEBUG).startswith("<7>")


def test_watchdog_usec_zero_means_no_watchdog(monkeypatch):
    from bridge import systemd

    monkeypatch.setenv("WATCHDOG_USEC", "0")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert systemd.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert systemd.watchdog_interval() == 15.0
