"""Crash safety: a real ``python -m bridge run`` capturing a timelapse every second is killed
with SIGKILL (twice, at different moments) and restarted. On disk there is never a partial JPEG
under a frame's name, every SQLite row points at a complete file, leftovers (temp files, files
without a row) are cleaned at start, and capture resumes without a burst of catch-up frames."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

from ..peers import REPO

EOI = b"\xff\xd9"


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bridge", "run", "--config", str(config)],
                                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)


def rows(db: Path) -> list[tuple[int, str, float]]:
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT id, path, captured_at FROM timelapse_frames ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        con.close()


def wait_rows(db: Path, count: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 40) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rows(db)
        if len(found) >= count:
            return found
        assert proc.poll() is None, f"the bridge exited: {log.read_text()[-2000:]}"
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} frames after {timeout} s: {log.read_text()[-2000:]}")


def complete_jpeg(path: Path) -> bool:
    data = path.read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return data.startswith(b"\xff\xd8") and data.endswith(EOI) and image is not None


def frame_files(root: Path) -> tuple[set[str], list[Path]]:
    """Frame files by relative path, and hidden temp files."""
    named, temps = set(), []
    for path in root.glob("*/*/*"):  # {id}/{date}/{HHMMSS}.jpg
        if not path.is_file():
            continue
        if path.name.startswith("."):
            temps.append(path)
        else:
            named.add(path.relative_to(root).as_posix())
    return named, temps


def check_consistent(root: Path, db: Path) -> set[str]:
    """Every row's file exists and is a complete JPEG; every visible frame file is complete."""
    named, _temps = frame_files(root)
    in_db = {path for _id, path, _at in rows(db)}
    assert in_db <= named, f"rows without a file: {in_db - named}"
    broken = [p for p in named if not complete_jpeg(root / p)]
    assert not broken, f"partial JPEGs under a frame's name: {broken}"
    return named - in_db


def test_sigkill_while_capturing_leaves_consistent_storage(broker, prefix, tmp_path):
    data = tmp_path / "data"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": prefix,
                 "discovery_prefix": f"{prefix}_ha"},
        "api": {"enabled": False},
        "data_dir": str(data),
        "cameras": {"cam": {"url": "lavfi:testsrc2=size=640x360:rate=10"}},
        "timelapses": {"tl": {"camera": "cam", "interval": 1, "jpeg_quality": 95}},
    }))
    db, root, log = data / "bridge.db", data / "timelapses", tmp_path / "bridge.log"

    seen = 0
    for delay in (0.0, 0.37):  # kill right after a frame, and mid-interval
        proc = start(config, log)
        try:
            before = wait_rows(db, seen + 3, proc, log)
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        seen = len(rows(db))
        assert seen >= len(before)
        check_consistent(root, db)

    # restart: leftovers are cleaned, capture resumes at the interval (no catch-up burst)
    killed_at = time.time()
    time.sleep(2.5)  # frames were due meanwhile
    proc = start(config, log)
    try:
        after = wait_rows(db, seen + 4, proc, log)
        orphans = check_consistent(root, db)
        assert not orphans, f"files without a row after restart: {orphans}"
        assert not frame_files(root)[1], "temp files left after restart"
        new = [at for _id, _path, at in after[seen:]]
        assert new[0] > killed_at
        gaps = np.diff(new)
        assert gaps.min() > 0.8, f"frames closer than the 1 s interval after restart: {gaps}"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()[-2000:]
    assert "Traceback" not in log.read_text()
