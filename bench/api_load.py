"""API load benchmark: status queries while many WebSocket clients listen for events.

What: a bridge with N cameras (``--cameras``, default 8; RTSP from a local gst-rtsp-server, 720p)
and its API on a free loopback port. ``--clients`` (default 100) WebSocket clients connect to
``/ws`` and ``events.subscribe``; one more client calls JSON-RPC ``cameras.get`` in a loop for
``--seconds`` (default 30) and times each call. Meanwhile a churn client adds and removes a
synthetic camera every second, so ``camera.status``/``camera.removed`` events flow; each listener
records, per event, the delay from the event's creation (its ``time`` field, same clock) to its
arrival.

Reports status-query latency p50/p99/max and the notification fan-out delay p50/p99/max over
all listeners. Target: query p99 <= 10 ms. ``--json OUT`` writes the figures. The bridge runs as
a subprocess (``python -m bridge run``), so the clients' own work does not share its event loop.
Run from the repo root: ``python bench/api_load.py [--clients N] [--cameras N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.peers import REPO, Mosquitto, RtspServer, free_port, make_clip, temp_dir, wait_port

P99_TARGET_MS = 10.0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def rpc(ws: aiohttp.ClientWebSocketResponse, ids: list[int], method: str, **params) -> dict:
    ids[0] += 1
    await ws.send_json({"jsonrpc": "2.0", "id": ids[0], "method": method, "params": params})
    while True:
        msg = await ws.receive_json()
        if msg.get("id") == ids[0]:
            return msg


async def listener(url: str, delays: list[float], ready: asyncio.Event, counter: list[int],
                   stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await rpc(ws, [0], "events.subscribe")
        counter[0] += 1
        if counter[0] >= counter[1]:
            ready.set()
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.5)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                return
            data = json.loads(msg.data)
            if data.get("method") == "event":
                delays.append(time.time() - data["params"]["time"])


async def querier(url: str, cameras: list[str], latencies: list[float], stop: asyncio.Event) -> None:
    ids = [0]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        i = 0
        while not stop.is_set():
            start = time.perf_counter()
            reply = await rpc(ws, ids, "cameras.get", id=cameras[i % len(cameras)])
            latencies.append(time.perf_counter() - start)
            assert "result" in reply, reply
            i += 1


async def churn(url: str, stop: asyncio.Event) -> int:
    ids, rounds = [0], 0
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        while not stop.is_set():
            await rpc(ws, ids, "cameras.add", id="churn", url="lavfi:testsrc2=size=160x120:rate=5")
            await asyncio.sleep(0.5)
            await rpc(ws, ids, "cameras.remove", id="churn")
            await asyncio.sleep(0.5)
            rounds += 1
    return rounds


async def load(port: int, args: argparse.Namespace, cameras: list[str]) -> dict:
    url = f"http://127.0.0.1:{port}/ws"
    stop, ready = asyncio.Event(), asyncio.Event()
    delays: list[float] = []
    latencies: list[float] = []
    counter = [0, args.clients]
    listeners = [asyncio.create_task(listener(url, delays, ready, counter, stop)) for _ in range(args.clients)]
    await asyncio.wait_for(ready.wait(), 60)
    tasks = [asyncio.create_task(querier(url, cameras, latencies, stop)), asyncio.create_task(churn(url, stop))]
    await asyncio.sleep(args.seconds)
    stop.set()
    results = await asyncio.gather(*tasks, *listeners)
    ms = [x * 1000 for x in latencies]
    fan = [x * 1000 for x in delays]
    return {
        "clients": args.clients, "cameras": args.cameras, "seconds": args.seconds,
        "queries": len(ms), "query_ms": {"p50": pct(ms, 0.5), "p99": pct(ms, 0.99), "max": max(ms),
                                         "mean": statistics.fmean(ms)},
        "churn_rounds": results[1], "notifications": len(fan),
        "fanout_ms": {"p50": pct(fan, 0.5), "p99": pct(fan, 0.99), "max": max(fan) if fan else None},
        "target_p99_ms": P99_TARGET_MS, "pass": pct(ms, 0.99) <= P99_TARGET_MS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = temp_dir("bench-api-")
    clip = make_clip(work / "clip_720p.mp4", seconds=6)
    broker, server = Mosquitto(work), RtspServer(clip)
    broker.start()
    server.start()
    port = free_port()
    cameras = [f"cam{i}" for i in range(args.cameras)]
    config = work / "bridge.yaml"
    config.write_text(json.dumps({
        "log_level": "warning", "data_dir": str(work / "data"),
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": "benchapi"},
        "cameras": {c: {"url": server.url} for c in cameras},
        "api": {"port": port, "rate_limit": {"rate": 10000, "burst": 10000}},
    }))
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "run", "-c", str(config)], cwd=REPO)
    try:
        wait_port(port, 30)
        result = asyncio.run(load(port, args, cameras))
    finally:
        proc.terminate()
        proc.wait(15)
        server.stop()
        broker.stop()
    q, f = result["query_ms"], result["fanout_ms"]
    print(f"{args.clients} listeners, {args.cameras} cameras, {args.seconds:g} s: {result['queries']} status queries, "
          f"{result['notifications']} notifications delivered")
    print(f"status query  p50 {q['p50']:.2f} ms  p99 {q['p99']:.2f} ms  max {q['max']:.2f} ms  "
          f"(target p99 <= {P99_TARGET_MS:g} ms: {'PASS' if result['pass'] else 'FAIL'})")
    print(f"event fan-out p50 {f['p50']:.2f} ms  p99 {f['p99']:.2f} ms  max {f['max']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
