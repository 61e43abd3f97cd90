"""Snapshot CPU benchmark: the bridge against a naive OpenCV read loop, on the same RTSP streams.

What: N cameras (``--cameras``, default 8) each stream 1080p15 H.264 (GOP 30 = one keyframe every
2 s, no B-frames) from a local gst-rtsp-server. Two phases run one after the other, never at once,
each for ``--seconds`` (default 60) after a warm-up:

1. the real bridge, ``python -m bridge run -c CONFIG``, every camera with ``snapshot: {interval:
   0}`` (a JPEG per keyframe) publishing to a local Mosquitto; snapshots are counted per camera;
2. a naive loop as rtsp2jpg-style services do it: one thread per camera running
   ``cv2.VideoCapture(url).read()``, which decodes and converts every frame; frames are counted.

How: each phase runs as its own subprocess, measured from outside with psutil: CPU seconds (user +
system, all threads) over the window, RSS sampled every 0.5 s from start to end, and the kernel's
exact peak (VmHWM, on which the RSS target is judged). The clip is made once with ffmpeg from the
shared footage into ``--cache`` (a temp dir; media is never committed). One RTSP server serves
every camera: its clients share one pipeline, so it costs almost nothing on this 2-core machine
and does not compete with the measured process (one server per camera would add N pipelines).
It also aligns every camera's keyframes: the bridge decodes and encodes all N at the same instant,
the worst case for its bursts (measured ~15 % more CPU than with one server per camera).

Targets: bridge CPU per camera <= 1/8 of the naive loop's; bridge peak RSS <= 90 MiB + 10 MiB per
camera. Prints a table and PASS/FAIL per target (exit status 0 either way); ``--json OUT`` writes
the figures. Run from the repo root: ``python bench/snapshot_cpu.py [--cameras N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.peers import REPO, Mosquitto, RtspServer, make_clip, temp_dir

WIDTH, HEIGHT, FPS, GOP, CLIP_SECONDS = 1920, 1080, 15, 30, 12  # 6 whole GOPs: loops on a keyframe
SAMPLE = 0.5  # seconds between RSS samples
READY_TIMEOUT = 30.0  # seconds for every camera to deliver its first snapshot/frame
CPU_RATIO, RSS_BASE, RSS_PER_CAMERA = 8, 90, 10  # targets (RSS in MiB)
MIB = 1 << 20


def naive_worker(url: str, cameras: int) -> None:
    """Phase 2 subprocess: one ``VideoCapture.read()`` thread per camera; prints the cumulative
    per-camera frame counts as a JSON line whenever a line arrives on stdin."""
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")  # like the bridge
    import cv2

    counts = [0] * cameras

    def loop(i: int) -> None:
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        while True:
            ok, _frame = cap.read()
            if ok:
                counts[i] += 1
            else:  # reconnect, as such services do
                cap.release()
                time.sleep(0.5)
                cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)

    for i in range(cameras):
        threading.Thread(target=loop, args=(i,), daemon=True).start()
    for _line in sys.stdin:
        print(json.dumps(counts), flush=True)


def measure(proc: subprocess.Popen, counts: Callable[[], list[int]], warmup: float,
            seconds: float) -> dict:
    """Wait until every camera delivered something (or READY_TIMEOUT), warm up, then measure
    ``proc`` for ``seconds``: CPU, peak RSS and per-camera count deltas over the window."""
    ps = psutil.Process(proc.pid)
    peak = 0

    def sample_until(deadline: float, done: Callable[[], bool] = lambda: False) -> None:
        nonlocal peak
        while time.monotonic() < deadline and not done() and proc.poll() is None:
            peak = max(peak, ps.memory_info().rss)
            time.sleep(max(0.0, min(SAMPLE, deadline - time.monotonic())))

    start = time.monotonic()
    sample_until(start + READY_TIMEOUT, lambda: min(counts()) > 0)
    ready_s = time.monotonic() - start if min(counts()) > 0 else None  # None: timed out
    sample_until(time.monotonic() + warmup)
    if proc.poll() is not None:
        raise RuntimeError(f"process exited with status {proc.returncode} before measuring")
    cpu0, before, t0 = ps.cpu_times(), counts(), time.monotonic()
    sample_until(t0 + seconds)
    cpu1, after, t1 = ps.cpu_times(), counts(), time.monotonic()
    peak = max(peak, ps.memory_info().rss)
    status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
    hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {"window_s": t1 - t0, "first_output_s": ready_s, "cpu_s": cpu,
            "cpu_cores": cpu / (t1 - t0), "peak_rss_mib": peak / MIB, "vm_hwm_mib": hwm / MIB,
            "counts": [a - b for a, b in zip(after, before, strict=True)]}


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bridge_phase(args: argparse.Namespace, url: str, broker: Mosquitto, work: Path) -> dict:
    import paho.mqtt.client as mqtt

    n = args.cameras
    counts = [0] * n
    subscribed = threading.Event()

    def on_message(_c, _u, msg) -> None:  # topic bench/camK/snapshot
        if not msg.retain:
            counts[int(msg.topic.split("/")[1][3:])] += 1

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-counter")
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("bench/+/snapshot")
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("MQTT counter did not subscribe")
    config = work / "bridge.yaml"  # JSON is YAML
    config.write_text(json.dumps({
        "log_level": "warning",
        "data_dir": str(work),  # the bridge's state (camera registry) stays in the temp dir
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": "bench",
                 "discovery": False},
        "api": {"port": 0, "enabled": args.api},  # API on a free port, or off
        "cameras": {f"cam{i}": {"url": url, "snapshot": {"interval": 0}} for i in range(n)},
    }))
    log = work / "bridge.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bridge", "run", "-c", str(config)],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            result = measure(proc, lambda: list(counts), args.warmup, args.seconds)
        finally:
            stop(proc)
            client.loop_stop()
            client.disconnect()
    tail = log.read_text(errors="replace").strip().splitlines()[-5:]
    if tail:
        print("bridge log ends with:\n  " + "\n  ".join(tail))
    return result


def naive_phase(args: argparse.Namespace, url: str) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--naive-worker", url,
                             "--cameras", str(args.cameras)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None

    def counts() -> list[int]:
        proc.stdin.write("\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    try:
        return measure(proc, counts, args.warmup, args.seconds)
    finally:
        proc.stdin.close()
        stop(proc)


def report(args: argparse.Namespace, bridge: dict, naive: dict) -> dict:
    n, minutes = args.cameras, args.seconds / 60
    for r in (bridge, naive):
        r["cpu_s_per_camera_minute"] = r["cpu_s"] / n / (r["window_s"] / 60)
        r["rate_per_camera"] = [c / r["window_s"] for c in r["counts"]]
    b, v = bridge["cpu_s_per_camera_minute"], naive["cpu_s_per_camera_minute"]
    rss_limit = RSS_BASE + RSS_PER_CAMERA * n
    rss = bridge["vm_hwm_mib"]  # the kernel's exact peak; >= any sample
    snaps_expected = args.seconds * FPS / GOP
    snaps_ok = all(abs(c - snaps_expected) <= 0.2 * snaps_expected + 1 for c in bridge["counts"])
    checks = {  # name: (pass, detail); a bridge that published no snapshots proves nothing
        f"bridge CPU/camera <= naive/{CPU_RATIO}": (snaps_ok and b <= v / CPU_RATIO,
                                                  f"{b:.2f} <= {v / CPU_RATIO:.2f}"),
        f"bridge RSS <= {RSS_BASE} + {RSS_PER_CAMERA}*{n} MiB": (snaps_ok and rss <= rss_limit,
                                                          f"{rss:.0f} <= {rss_limit}"),
        "sanity: snapshots/camera ~ 1 per GOP": (snaps_ok, "{}..{}, expected ~{:.0f}".format(
            min(bridge["counts"]), max(bridge["counts"]), snaps_expected)),
        "sanity: naive loop keeps up (>= 90 % of 15 fps)": (
            min(naive["rate_per_camera"]) >= 0.9 * FPS,
            f"{min(naive['rate_per_camera']):.1f}..{max(naive['rate_per_camera']):.1f} fps"),
    }
    print(f"\n{n} camera(s), 1080p{FPS} GOP {GOP}, {args.seconds:g} s measured after "
          f"{args.warmup:g} s warm-up ({minutes * n:g} camera-minutes)")
    def both(fmt: Callable[[dict], str]) -> tuple[str, str]:
        return fmt(bridge), fmt(naive)

    rows = [("", "bridge (keyframes)", "naive cv2 loop"),
            ("CPU s per camera-minute", f"{b:.2f}", f"{v:.2f}"),
            ("CPU cores busy (whole process)", *both(lambda r: f"{r['cpu_cores']:.2f}")),
            ("peak RSS, sampled / VmHWM (MiB)",
             *both(lambda r: f"{r['peak_rss_mib']:.0f} / {r['vm_hwm_mib']:.0f}")),
            ("snapshots | frames per camera", *both(lambda r: " ".join(map(str, r["counts"])))),
            ("all cameras delivered after (s)",
             *both(lambda r: f"{r['first_output_s']:.1f}" if r["first_output_s"] else "never"))]
    for row in rows:
        print(f"  {row[0]:<33} {row[1]:>22}   {row[2]}")
    print(f"  bridge/naive CPU ratio: 1/{v / b:.1f}" if b > 0 else "  bridge used no CPU?")
    for name, (ok, detail) in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}  ({detail})")
    if not snaps_ok:
        print("  (the targets FAIL because the bridge did not publish a snapshot per keyframe on "
              "every camera: its figures are not valid)")
    return {"cameras": n, "seconds": args.seconds, "warmup": args.warmup,
            "stream": {"width": WIDTH, "height": HEIGHT, "fps": FPS, "gop": GOP},
            "bridge": bridge, "naive": naive,
            "checks": {name: {"pass": ok, "detail": d} for name, (ok, d) in checks.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=8, help="number of cameras (default 8)")
    parser.add_argument("--seconds", type=float, default=60, help="measured window per phase")
    parser.add_argument("--api", action=argparse.BooleanOptionalAction, default=True,
                        help="run the bridge with its HTTP API (the default config) or without")
    parser.add_argument("--warmup", type=float, default=5,
                        help="seconds between all cameras up and the window")
    parser.add_argument("--cache", type=Path, help="where the clip is made and kept",
                        default=Path(tempfile.gettempdir()) / "camera-bridge-bench")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON")
    parser.add_argument("--naive-worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_worker:
        naive_worker(args.naive_worker, args.cameras)
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    clip = make_clip(args.cache / f"bench_{HEIGHT}p{FPS}_gop{GOP}_{CLIP_SECONDS}s.mp4",
                     width=WIDTH, height=HEIGHT, fps=FPS, gop=GOP, seconds=CLIP_SECONDS)
    work = temp_dir("bench-snapshot-")
    broker, server = Mosquitto(work), RtspServer(clip)
    broker.start()
    server.start()
    try:
        print(f"phase 1/2: bridge, {args.cameras} camera(s) on {server.url} ...", flush=True)
        bridge = bridge_phase(args, server.url, broker, work)
        print(f"phase 2/2: naive cv2 loop, {args.cameras} thread(s) ...", flush=True)
        naive = naive_phase(args, server.url)
    finally:
        server.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    result = report(args, bridge, naive)
    result["versions"] = {"python": sys.version.split()[0], "av": __import__("av").__version__,
                          "opencv": __import__("cv2").__version__, "cpus": os.cpu_count()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
