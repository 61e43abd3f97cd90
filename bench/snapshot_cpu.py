"""Snapshot CPU benchmark: the bridge against two snapshot floors and a naive OpenCV loop, on the
same RTSP streams, at full size and at ``max_width: 640``; and a scale mode.

Compare mode (default): N cameras (``--cameras``, default 4) each stream 1080p15 H.264 (GOP 30 =
one keyframe every 2 s, no B-frames) from local gst-rtsp-servers. Phases run one after the other,
never at once, each for ``--seconds`` after every camera delivered and a warm-up, each as its own
subprocess measured from outside with psutil (CPU seconds, user + system, all threads; RSS sampled
every 0.5 s and the kernel's exact peak VmHWM):

* ``bridge``: the real service, ``python -m bridge run -c CONFIG``, every camera with ``snapshot:
  {interval: 0}`` (a JPEG per keyframe) publishing to a local Mosquitto; snapshots counted;
* ``old floor``: one thread per camera, PyAV demux, keyframes only (``skip_frame NONKEY``),
  ``to_ndarray(bgr24)`` (+ area downscale), ``cv2.imencode`` -- the bridge before issue 14;
* ``YUV floor``: the same reader, then the limited->full range pass in swscale (+ area downscale)
  and libjpeg-turbo (simplejpeg) on the planes -- a plain loop of the bridge's encode, kept as it
  was first written (exact POINT range pass, deblocked keyframes); the bridge now skips the
  deblocking of keyframes it decodes alone and uses swscale's fast same-size pass, which is
  what it may save over this floor (docs/performance.md);
* ``naive``: one ``cv2.VideoCapture(url).read()`` thread per camera (every frame decoded and
  converted to BGR, none encoded), as rtsp2jpg-style services do (full size only).

The bridge and both floors run at full size and at 640 px wide. Also ``bridge, no camera``: the
base RSS with the API on. Targets (issue 14): bridge CPU per camera <= 0.9x the YUV floor at full
size and <= 0.75x at 640; base RSS <= 70 MiB; <= 6 MiB more per camera.

Scale mode (``--scale N --minutes M``): N cameras on ``--servers K`` RTSP servers whose clips have
their keyframes at K different phases of the GOP (``--servers 1``: every keyframe at the same
instant, the worst case), the bridge only, for M minutes: per camera the share of its keyframes
published (the camera's own ``keyframes`` counter from its MQTT status) and the largest gap
between two of its snapshots; the bridge's CPU (cores) and peak RSS. Targets: >= 95 % of
keyframes, gap <= 2 GOPs + 1 s, <= 1.0 core, peak RSS <= 90 MiB + 6 MiB per camera.

Prints tables and PASS/FAIL (exit 0 either way); ``--json OUT`` writes the figures. Run from the
repo root: ``python bench/snapshot_cpu.py [--cameras N] [--seconds S]`` or ``--scale 100
--minutes 10``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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
SMALL = 640  # max_width of the scaled phases
SAMPLE = 0.5  # seconds between RSS samples
READY_TIMEOUT = 60.0  # seconds for every camera to deliver its first snapshot/frame
FULL_RATIO, SMALL_RATIO = 0.9, 0.75  # bridge CPU / YUV floor CPU targets
BASE_RSS, PER_CAMERA_RSS, SCALE_BASE_RSS = 70, 6, 90  # MiB targets
KEYFRAME_SHARE, MAX_CORES = 0.95, 1.0  # scale targets
MIB = 1 << 20


# -- subprocess workers -------------------------------------------------------------------------

def floor_worker(urls: list[str], kind: str, max_width: int | None) -> None:
    """A floor as its own process: one thread per camera (PyAV demux, keyframes only), each
    keyframe converted and encoded (``kind`` ``old``: BGR + cv2.imencode; ``yuv``: swscale range
    (+ scale) + simplejpeg on the planes). Prints cumulative per-camera counts as a JSON line
    whenever a line arrives on stdin."""
    import av
    import numpy as np

    if kind == "old":
        import cv2
    else:
        import simplejpeg
    counts = [0] * len(urls)
    opts = {"rtsp_transport": "tcp", "analyzeduration": "200000", "probesize": "65536"}

    def size(w: int, h: int) -> tuple[int, int]:
        if not max_width or w <= max_width:
            return w, h
        return max_width, max(2, round(h * max_width / w / 2) * 2)

    def encode_old(f: av.VideoFrame) -> bytes:
        w, h = size(f.width, f.height)
        image = f.to_ndarray(width=w, height=h, format="bgr24", interpolation="AREA")
        return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()

    def encode_yuv(f: av.VideoFrame) -> bytes:
        w, h = size(f.width, f.height)
        g = f.reformat(width=w, height=h, format="yuv420p", src_color_range=1, dst_color_range=2,
                       interpolation="AREA" if (w, h) != (f.width, f.height) else "POINT",
                       threads=1)
        planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width]
                  for p in g.planes]
        return simplejpeg.encode_jpeg_yuv_planes(*planes, quality=80)

    encode = encode_old if kind == "old" else encode_yuv

    def loop(i: int) -> None:
        while True:
            try:
                with av.open(urls[i], options=opts) as container:
                    stream = container.streams.video[0]
                    stream.codec_context.thread_count = 1
                    stream.codec_context.skip_frame = "NONKEY"
                    for frame in container.decode(stream):
                        encode(frame)
                        counts[i] += 1
            except av.error.FFmpegError:
                time.sleep(0.5)

    for i in range(len(urls)):
        threading.Thread(target=loop, args=(i,), daemon=True).start()
    for _line in sys.stdin:
        print(json.dumps(counts), flush=True)


def naive_worker(urls: list[str]) -> None:
    """One ``VideoCapture.read()`` thread per camera; counts frames (as :func:`floor_worker`)."""
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")  # like the bridge
    import cv2

    counts = [0] * len(urls)

    def loop(i: int) -> None:
        cap = cv2.VideoCapture(urls[i], cv2.CAP_FFMPEG)
        while True:
            ok, _frame = cap.read()
            if ok:
                counts[i] += 1
            else:  # reconnect, as such services do
                cap.release()
                time.sleep(0.5)
                cap = cv2.VideoCapture(urls[i], cv2.CAP_FFMPEG)

    for i in range(len(urls)):
        threading.Thread(target=loop, args=(i,), daemon=True).start()
    for _line in sys.stdin:
        print(json.dumps(counts), flush=True)


# -- measuring ----------------------------------------------------------------------------------

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
    sample_until(start + READY_TIMEOUT, lambda: not counts() or min(counts()) > 0)
    ready_s = time.monotonic() - start if not counts() or min(counts()) > 0 else None
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
            "counts": [a - b for a, b in zip(after, before, strict=True)],
            "load_avg": os.getloadavg()[0]}


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Counter:
    """Counts non-retained snapshots per camera on ``bench/+/snapshot`` (arrival times kept for
    the gaps) and keeps each camera's newest status payload."""

    def __init__(self, port: int, n: int) -> None:
        import paho.mqtt.client as mqtt

        self.counts = [0] * n
        self.times: list[list[float]] = [[] for _ in range(n)]
        #: per camera: (monotonic arrival, payload) of its newest status
        self.status: list[tuple[float, dict] | None] = [None] * n
        subscribed = threading.Event()

        def on_message(_c, _u, msg) -> None:  # topic bench/camK/snapshot or bench/camK/status
            cam = int(msg.topic.split("/")[1][3:])
            if msg.topic.endswith("/status"):
                self.status[cam] = (time.monotonic(), json.loads(msg.payload))
            elif not msg.retain:
                self.counts[cam] += 1
                self.times[cam].append(time.monotonic())

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}")
        self.client.on_message = on_message
        self.client.on_connect = lambda c, *_: c.subscribe([("bench/+/snapshot", 0),
                                                            ("bench/+/status", 0)])
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("MQTT counter did not subscribe")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_bridge(work: Path, broker: Mosquitto, urls: list[str], *, max_width: int | None,
               api: bool, interval: float = 0, status_interval: float = 30) -> subprocess.Popen:
    config = work / "bridge.yaml"  # JSON is YAML
    config.write_text(json.dumps({
        "log_level": "warning",
        "data_dir": str(work),  # the bridge's state (camera registry) stays in the temp dir
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": "bench",
                 "discovery": False, "status_interval": status_interval},
        "api": {"port": 0, "enabled": api},  # API on a free port, or off
        "cameras": {f"cam{i}": {"url": url, "snapshot": {"interval": interval,
                                                         "max_width": max_width}}
                    for i, url in enumerate(urls)},
    }))
    return subprocess.Popen([sys.executable, "-m", "bridge", "run", "-c", str(config)], cwd=REPO,
                            stdout=(work / "bridge.log").open("ab"), stderr=subprocess.STDOUT)


def bridge_phase(args: argparse.Namespace, urls: list[str], broker: Mosquitto, work: Path,
                 max_width: int | None) -> dict:
    counter = Counter(broker.port, len(urls))
    proc = run_bridge(work, broker, urls, max_width=max_width, api=args.api,
                      interval=args.interval, status_interval=5)
    try:
        result = measure(proc, lambda: list(counter.counts), args.warmup, args.seconds)
        # what the decoder did: keyframes received vs pictures decoded (status counters)
        result["keyframes"] = [s[1]["keyframes"] if s else None for s in counter.status]
        result["decoded"] = [s[1]["decoded"] if s else None for s in counter.status]
    finally:
        stop(proc)
        counter.close()
    return result


def base_phase(args: argparse.Namespace, broker: Mosquitto, work: Path) -> dict:
    """The bridge with no camera, API on: its RSS after start-up."""
    proc = run_bridge(work, broker, [], max_width=None, api=True)
    try:
        return measure(proc, list, 3, min(args.seconds, 10))
    finally:
        stop(proc)


def worker_phase(args: argparse.Namespace, urls: list[str], *extra: str) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, *extra, "--urls", ",".join(urls)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.DEVNULL)  # FFmpeg/OpenCV warnings
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


# -- streams ------------------------------------------------------------------------------------

def clips(cache: Path, phases: int) -> list[Path]:
    """``phases`` clips whose keyframes sit at different phases of the GOP (clip ``k``: a
    keyframe at frame 0, then every GOP from frame ``k * GOP / phases``)."""
    out = []
    for k in range(phases):
        offset = k * GOP // phases
        name = f"bench_{HEIGHT}p{FPS}_gop{GOP}_{CLIP_SECONDS}s" + (f"_off{offset}" if offset else "")
        keys = f"expr:eq(n,0)+gte(n,{offset})*eq(mod(n-{offset},{GOP}),0)"
        codec = ("-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-sc_threshold", "0",
                 "-force_key_frames", keys) if offset else (
                 "-c:v", "libx264", "-preset", "veryfast", "-bf", "0")
        out.append(make_clip(cache / f"{name}.mp4", width=WIDTH, height=HEIGHT, fps=FPS, gop=GOP,
                             seconds=CLIP_SECONDS, codec_args=codec))
    return out


def start_servers(paths: list[Path]) -> list[RtspServer]:
    servers = []
    for path in paths:
        server = RtspServer(path)
        server.start()
        servers.append(server)
    return servers


# -- modes --------------------------------------------------------------------------------------

def compare(args: argparse.Namespace, work: Path, broker: Mosquitto) -> dict:
    n = args.cameras
    servers = start_servers(clips(args.cache, args.servers))
    urls = [servers[i % len(servers)].url for i in range(n)]
    results: dict[str, dict] = {}
    try:
        plan: list[tuple[str, Callable[[], dict]]] = [
            ("bridge, no camera", lambda: base_phase(args, broker, work))]
        for label, width in (("full", None), ("640", SMALL)):
            w = str(width or 0)
            plan += [
                (f"bridge {label}", lambda w=width: bridge_phase(args, urls, broker, work, w)),
                (f"YUV floor {label}", lambda w=w: worker_phase(args, urls, "--floor", "yuv",
                                                                "--floor-width", w)),
                (f"old floor {label}", lambda w=w: worker_phase(args, urls, "--floor", "old",
                                                                "--floor-width", w)),
            ]
        if args.naive:
            plan.append(("naive cv2 loop", lambda: worker_phase(args, urls, "--naive")))
        if args.phases:
            wanted = {p.strip() for p in args.phases.split(",")}
            plan = [(name, phase) for name, phase in plan if name in wanted]
        for name, phase in plan:
            print(f"  {name} ...", flush=True)
            results[name] = phase()
            results[name]["servers_alive"] = sum(server.alive() for server in servers)
            if results[name]["servers_alive"] < len(servers):
                print(f"  WARNING: an RTSP server died during {name}: its figures are not valid")
    finally:
        for server in servers:
            server.stop()
    for r in results.values():
        r["cpu_s_per_camera_minute"] = r["cpu_s"] / n / (r["window_s"] / 60) if r["counts"] else None
    expected = args.seconds * FPS / GOP
    print(f"\n{n} camera(s), 1080p{FPS} GOP {GOP}, {args.servers} RTSP server(s), "
          f"{args.seconds:g} s per phase after {args.warmup:g} s warm-up, load avg at end of "
          f"each phase in brackets")
    print(f"  {'phase':<20} {'CPU s/cam-min':>13} {'cores':>6} {'VmHWM MiB':>10} "
          f"{'per camera (window)':>22}  load")
    for name, r in results.items():
        cpu = "-" if r["cpu_s_per_camera_minute"] is None else f"{r['cpu_s_per_camera_minute']:.3f}"
        per = " ".join(map(str, r["counts"])) or "-"
        print(f"  {name:<20} {cpu:>13} {r['cpu_cores']:>6.2f} {r['vm_hwm_mib']:>10.0f} "
              f"{per:>22}  [{r['load_avg']:.1f}]")
    for name, r in results.items():
        if "decoded" in r:
            print(f"  {name}: keyframes received {r['keyframes']}, pictures decoded {r['decoded']} "
                  f"(status counters since start)")
    checks: dict[str, tuple[bool, str]] = {}
    snaps_ok = all(abs(c - expected) <= 0.2 * expected + 1 for k in ("bridge full", "bridge 640")
                   if k in results for c in results[k]["counts"])
    for label, ratio in (("full", FULL_RATIO), ("640", SMALL_RATIO)):
        if not {f"bridge {label}", f"YUV floor {label}", f"old floor {label}"} <= results.keys():
            continue
        b = results[f"bridge {label}"]["cpu_s_per_camera_minute"]
        y = results[f"YUV floor {label}"]["cpu_s_per_camera_minute"]
        o = results[f"old floor {label}"]["cpu_s_per_camera_minute"]
        checks[f"bridge CPU <= {ratio}x YUV floor, {label}"] = (
            snaps_ok and b <= ratio * y, f"{b / y:.2f}x (old floor: bridge {b / o:.2f}x)")
    if {"bridge, no camera", "bridge full"} <= results.keys():
        base = results["bridge, no camera"]["vm_hwm_mib"]
        full = results["bridge full"]["vm_hwm_mib"]
        checks[f"base RSS (no camera, API on) <= {BASE_RSS} MiB"] = (base <= BASE_RSS, f"{base:.0f}")
        checks[f"RSS per camera <= {PER_CAMERA_RSS} MiB"] = (
            (full - base) / n <= PER_CAMERA_RSS,
            f"({full:.0f} - {base:.0f}) / {n} = {(full - base) / n:.1f}")
    checks["sanity: bridge snapshots ~ 1 per keyframe"] = (snaps_ok, f"expected ~{expected:.0f}")
    for name, (ok, detail) in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}  ({detail})")
    return {"mode": "compare", "cameras": n, "servers": args.servers, "seconds": args.seconds,
            "results": results,
            "checks": {name: {"pass": ok, "detail": d} for name, (ok, d) in checks.items()}}


def scale(args: argparse.Namespace, work: Path, broker: Mosquitto) -> dict:
    n, seconds = args.scale, args.minutes * 60
    servers = start_servers(clips(args.cache, args.servers))
    urls = [servers[i % len(servers)].url for i in range(n)]
    counter = Counter(broker.port, n)
    proc = run_bridge(work, broker, urls, max_width=args.max_width, api=args.api,
                      status_interval=max(5.0, min(30.0, seconds / 4)))
    try:
        ps = psutil.Process(proc.pid)
        peak = 0
        deadline = time.monotonic() + READY_TIMEOUT
        while min(counter.counts) == 0 and time.monotonic() < deadline and proc.poll() is None:
            peak = max(peak, ps.memory_info().rss)
            time.sleep(SAMPLE)
        ready = sum(c > 0 for c in counter.counts)
        time.sleep(args.warmup)
        first_status = list(counter.status)
        cpu0, t0, before = ps.cpu_times(), time.monotonic(), list(counter.counts)
        while time.monotonic() < t0 + seconds and proc.poll() is None:
            peak = max(peak, ps.memory_info().rss)
            time.sleep(SAMPLE)
        cpu1, t1, after = ps.cpu_times(), time.monotonic(), list(counter.counts)
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
        cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        published = [a - b for a, b in zip(after, before, strict=True)]
        window = t1 - t0
        shares = []  # published / keyframes received, the camera's keyframe rate from its status
        for i in range(n):
            s0, s1 = first_status[i], counter.status[i]
            rate = FPS / GOP
            if s0 and s1 and s1[0] - s0[0] > window / 2:
                rate = (s1[1]["keyframes"] - s0[1]["keyframes"]) / (s1[0] - s0[0])
            shares.append(published[i] / (rate * window) if rate > 0 else 0.0)
        gaps = []  # the largest gap between two snapshots of each camera, within the window
        for times in counter.times:
            inside = [t for t in times if t0 <= t <= t1]
            gaps.append(max((b - a for a, b in zip(inside, inside[1:])), default=float("inf")))
        result = {"cameras": n, "servers": args.servers, "minutes": args.minutes,
                  "window_s": window, "cpu_cores": cpu / window, "vm_hwm_mib": hwm / MIB,
                  "peak_rss_mib": peak / MIB, "ready": ready, "published": published,
                  "share_min": min(shares), "share_median": statistics.median(shares),
                  "gap_max_s": max(gaps), "gap_median_s": statistics.median(gaps),
                  "load_avg": os.getloadavg()[0]}
        result["servers_alive"] = sum(server.alive() for server in servers)
    finally:
        stop(proc)
        counter.close()
        for server in servers:
            server.stop()
    if result["servers_alive"] < len(servers):
        print(f"  WARNING: {len(servers) - result['servers_alive']} RTSP server(s) died during the run")
    gap_limit = 2 * GOP / FPS + 1
    rss_limit = SCALE_BASE_RSS + PER_CAMERA_RSS * n
    checks = {
        f">= {KEYFRAME_SHARE:.0%} of keyframes published, every camera": (
            result["share_min"] >= KEYFRAME_SHARE,
            f"min {result['share_min']:.1%}, median {result['share_median']:.1%}"),
        f"largest gap <= {gap_limit:g} s": (result["gap_max_s"] <= gap_limit,
                                           f"{result['gap_max_s']:.2f} s (median camera's "
                                           f"largest {result['gap_median_s']:.2f} s)"),
        f"bridge <= {MAX_CORES} core": (result["cpu_cores"] <= MAX_CORES, f"{result['cpu_cores']:.2f}"),
        f"peak RSS <= {rss_limit} MiB": (result["vm_hwm_mib"] <= rss_limit,
                                         f"{result['vm_hwm_mib']:.0f}"),
    }
    print(f"\nscale: {n} cameras on {args.servers} RTSP server(s), {args.minutes:g} min, "
          f"max_width {args.max_width}, load avg at end {result['load_avg']:.1f}; "
          f"{result['ready']}/{n} delivered within {READY_TIMEOUT:g} s")
    for name, (ok, detail) in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}  ({detail})")
    result["checks"] = {name: {"pass": ok, "detail": d} for name, (ok, d) in checks.items()}
    result["mode"] = "scale"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=4, help="number of cameras (default 4)")
    parser.add_argument("--seconds", type=float, default=60, help="measured window per phase")
    parser.add_argument("--warmup", type=float, default=5,
                        help="seconds between all cameras up and the window")
    parser.add_argument("--servers", type=int, default=2,
                        help="RTSP servers, each with its keyframes at another phase (1: all aligned)")
    parser.add_argument("--interval", type=float, default=0, help="the bridge's snapshot.interval")
    parser.add_argument("--api", action=argparse.BooleanOptionalAction, default=True,
                        help="run the bridge with its HTTP API (the default config) or without")
    parser.add_argument("--naive", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the naive OpenCV loop")
    parser.add_argument("--phases", help="compare mode: only these phases (comma-separated names "
                        "as printed, e.g. 'bridge full,YUV floor full')")
    parser.add_argument("--scale", type=int, metavar="N", help="scale mode: N cameras, bridge only")
    parser.add_argument("--minutes", type=float, default=10, help="scale mode: measured minutes")
    parser.add_argument("--max-width", type=int, help="scale mode: snapshot.max_width")
    parser.add_argument("--cache", type=Path, help="where the clips are made and kept",
                        default=Path(tempfile.gettempdir()) / "camera-bridge-bench")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON")
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--floor", choices=("old", "yuv"), help=argparse.SUPPRESS)
    parser.add_argument("--floor-width", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--naive-worker", dest="naive_only", action="store_true",
                        help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.urls is not None:  # a worker subprocess
        urls = args.urls.split(",")
        if args.floor:
            floor_worker(urls, args.floor, args.floor_width or None)
        else:
            naive_worker(urls)
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    work = temp_dir("bench-snapshot-")
    broker = Mosquitto(work)
    broker.start()
    try:
        result = scale(args, work, broker) if args.scale else compare(args, work, broker)
    finally:
        broker.stop()
        tail = (work / "bridge.log").read_text(errors="replace").strip().splitlines()[-5:] \
            if (work / "bridge.log").exists() else []
        if tail:
            print("bridge log ends with:\n  " + "\n  ".join(tail))
        shutil.rmtree(work, ignore_errors=True)
    result["versions"] = {"python": sys.version.split()[0], "av": __import__("av").__version__,
                          "cpus": os.cpu_count()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
