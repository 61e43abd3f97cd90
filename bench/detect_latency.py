"""Detection benchmark: frame-to-MQTT event latency, inference time, detector runs with and
without motion gating, CPU per camera.

What: the real bridge (``python -m bridge run``, a subprocess measured from outside with psutil)
detects at 5 fps (``detect.fps``) with the shared YOLOX-Nano model (``--model``) on one RTSP
camera served by the local gst-rtsp-server. Three phases, one after the other, each after a
warm-up (``--warmup``, default 5 s):

1. ``pedestrians``: the pedestrians footage (1280x720, 25 fps, GOP 1 s, 13 s looped) for
   ``--seconds`` (default 60). Every message on ``{base}/street/events`` is timed on arrival at
   a subscriber of the same broker: latency = arrival - the event's ``frame_time`` (the arrival
   in the bridge of the packet that gave the frame, before decoding; same clock), so it covers
   decode, colour conversion, motion, inference, tracking and the broker hop.
2. ``static, gated``: a still picture (cat.bmp as a 1280x720 H.264 clip), motion gating on
   (the default), for ``--static-seconds`` (default 30).
3. ``static, ungated``: the same with ``detect.motion.gate: false`` (the detector on every frame).

Detector runs, frames, skipped frames and the inference-time histogram come from the bridge's
own ``/metrics`` (scraped at the start and end of each window); CPU is user + system seconds of
the bridge process over the window (one camera, so per camera). Clips are made with ffmpeg into
``--cache``. Targets: latency p50 <= 60 ms, p99 <= 200 ms; static scene with gating: no detector
run after warm-up. Prints a table and PASS/FAIL (exit status 0 either way); ``--json OUT``
writes the figures. Run from the repo root: ``python bench/detect_latency.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import bridge_process, quantile, scrape, subscriber
from tests.peers import SHARED, Mosquitto, RtspServer, make_clip, temp_dir

P50_TARGET, P99_TARGET = 60.0, 200.0  # ms


def still_clip(out: Path) -> Path:
    if not out.exists():
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-loop",
                "1",
                "-i",
                str(SHARED / "media" / "cat.bmp"),
                "-t",
                "10",
                "-vf",
                "scale=1280:720,fps=25",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-bf",
                "0",
                "-g",
                "25",
                "-pix_fmt",
                "yuv420p",
                str(out),
            ],
            check=True,
        )
    return out


def histogram_quantile(before: dict[str, float], after: dict[str, float], q: float) -> str:
    """Upper bound of the histogram bucket holding quantile ``q`` of the window's runs."""
    name = "camera_bridge_detect_inference_seconds_bucket"
    buckets = sorted(
        ((float(k.split("le=")[1].rstrip("}")), after[k] - before.get(k, 0.0)) for k in after if k.startswith(name)),
        key=lambda b: b[0],
    )
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= q * total:
            return f"<= {bound * 1000:g} ms"
    return "n/a"


def phase(
    name: str, url: str, broker: Mosquitto, work: Path, args: argparse.Namespace, seconds: float, gate: bool = True
) -> dict:
    latencies: list[float] = []
    kinds: dict[str, int] = {}
    measuring = threading.Event()
    base = f"bench{int(time.time())}"

    def on_message(msg) -> None:
        if not measuring.is_set():
            return
        event = json.loads(msg.payload)
        latencies.append((time.time() - event["frame_time"]) * 1000)
        kinds[event["type"]] = kinds.get(event["type"], 0) + 1

    config = {
        "log_level": "warning",
        "data_dir": str(work),
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": base, "discovery": False},
        "detect": {"model": str(args.model), "fps": args.fps, "threads": args.threads},
        "cameras": {
            "street": {"url": url, "snapshot": {"interval": 10}, "detect": {"enabled": True, "motion": {"gate": gate}}}
        },
    }
    with (
        subscriber(broker.port, [f"{base}/street/events"], on_message, f"bench-{name.replace(' ', '')}"),
        bridge_process(work, name.replace(" ", "_").replace(",", ""), config) as bridge,
    ):
        bridge.wait_metric("street", "camera_bridge_detect_frames_total")
        time.sleep(args.warmup)
        cpu0, m0, t0 = bridge.cpu_seconds(), scrape(bridge.port, "street"), time.monotonic()
        measuring.set()
        time.sleep(seconds)
        measuring.clear()
        cpu1, m1, t1 = bridge.cpu_seconds(), scrape(bridge.port, "street"), time.monotonic()
    window = t1 - t0

    def delta(key: str) -> float:
        return m1.get(key, 0.0) - m0.get(key, 0.0)

    runs = delta("camera_bridge_detect_runs_total")
    inference_count = delta("camera_bridge_detect_inference_seconds_count")
    return {
        "window_s": round(window, 1),
        "cpu_cores": round((cpu1 - cpu0) / window, 3),
        "frames_per_s": round(delta("camera_bridge_detect_frames_total") / window, 2),
        "runs_per_min": round(runs / window * 60, 1),
        "skipped_per_min": round(delta("camera_bridge_detect_skipped_frames_total") / window * 60, 1),
        "inference_mean_ms": round(delta("camera_bridge_detect_inference_seconds_sum") / inference_count * 1000, 1)
        if inference_count
        else None,
        "inference_p50": histogram_quantile(m0, m1, 0.5) if inference_count else "n/a",
        "inference_p99": histogram_quantile(m0, m1, 0.99) if inference_count else "n/a",
        "events": kinds,
        "latency_p50_ms": round(quantile(latencies, 0.5), 1) if latencies else None,
        "latency_p99_ms": round(quantile(latencies, 0.99), 1) if latencies else None,
        "latency_max_ms": round(max(latencies), 1) if latencies else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="pedestrians window (default 60)")
    parser.add_argument("--static-seconds", type=float, default=30, help="static-scene windows (default 30)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds before each window (default 5)")
    parser.add_argument("--fps", type=float, default=5, help="detect.fps (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="detect.threads (default 1)")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yolox_nano.onnx")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "camera-bridge-bench")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    walkers = make_clip(args.cache / "pedestrians_720p25_gop25.mp4", seconds=13.6)
    still = still_clip(args.cache / "still_cat_720p25.mp4")
    work = temp_dir("detect-bench-")
    broker = Mosquitto(work)
    broker.start()
    results = {}
    try:
        for name, clip, seconds, gate in (
            ("pedestrians", walkers, args.seconds, True),
            ("static, gated", still, args.static_seconds, True),
            ("static, ungated", still, args.static_seconds, False),
        ):
            server = RtspServer(clip)
            server.start()
            try:
                print(f"{name}: measuring {seconds:g} s ...", flush=True)
                results[name] = phase(name, server.url, broker, work, args, seconds, gate)
            finally:
                server.stop()
    finally:
        broker.stop()
    keys = list(next(iter(results.values())))
    print(f"\n{'':22}" + "".join(f"{n:>20}" for n in results))
    for key in keys:
        print(f"{key:22}" + "".join(f"{r[key]!s:>20}" for r in results.values()))
    walk, gated = results["pedestrians"], results["static, gated"]
    checks = {
        f"latency p50 <= {P50_TARGET:g} ms": walk["latency_p50_ms"] is not None
        and walk["latency_p50_ms"] <= P50_TARGET,
        f"latency p99 <= {P99_TARGET:g} ms": walk["latency_p99_ms"] is not None
        and walk["latency_p99_ms"] <= P99_TARGET,
        "static scene, gated: no detector run": gated["runs_per_min"] == 0,
    }
    print()
    for what, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "checks": checks}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
