"""Untrusted input on the API's wire cannot stall or crash the bridge: strict JSON parsing
(``bridge.api.wire``), bounded JSON-RPC requests and one-line logging of malformed HTTP requests,
against a live bridge with ``api.auth: required``. (Tight timing figures: ``bench/api_abuse.py``;
the bounds here are generous so that a loaded test machine does not fail them.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import aiohttp
import pytest

from bridge.api import wire
from bridge.api.httplog import HttpLog

from ..conftest import make_config, running
from .test_api_cameras import base_url
from .test_api_rpc import KEY_CONFIG, KEYS, connect

MIB = 1024 * 1024


def strict(text: str):
    """Parse a reply as a strict JSON peer would (no NaN/Infinity)."""
    def refuse(name):
        raise AssertionError(f"reply is not strict JSON: {name} in {text[:200]}")
    return json.loads(text, parse_constant=refuse)


# -- the parser --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e999", "[-1e999]",
                                  '{"id": 1e-999}', "[" * 65 + "]" * 65, "[" * 2000 + "]" * 2000,
                                  "[" * MIB, '{"a":' * 100 + "1" + "}" * 100, "[1,]", b"\xff",
                                  "[" + "[]," * 10_000 + "[]]", '["' + '\\"[' * 100])
def test_loads_refuses_what_is_not_strict_bounded_json(text):
    with pytest.raises(wire.WireError):
        wire.loads(text)


def test_loads_accepts_strict_json_up_to_64_levels():
    assert wire.loads("[" * 64 + "]" * 64) == json.loads("[" * 64 + "]" * 64)
    assert wire.loads('{"a": [1.5, 1e308, -0.0, 12345678901234567890, "[[[[{{{"], "b": null}') == {
        "a": [1.5, 1e308, -0.0, 12345678901234567890, "[[[[{{{"], "b": None}
    assert wire.loads(b'{"x": "\\"[[["}') == {"x": '"[[['}


@pytest.mark.parametrize("name", ["ints", "floats", "lists", "objects", "strings", "escapes", "deep"])
def test_loads_of_1_mib_adversarial_frames_is_bounded(name):
    frame = {
        "ints": "[" + "1," * (MIB // 2 - 1) + "1]",
        "floats": "[" + "1e300," * (MIB // 6 - 1) + "1]",
        "lists": "[" + "[]," * (MIB // 3 - 1) + "[]]",
        "objects": "[" + '{"a":[]},' * (MIB // 9 - 1) + "{}]",
        "strings": "[" + '"[{",' * (MIB // 5 - 1) + '""]',
        "escapes": '["' + '\\"' * (MIB // 2 - 2) + '"]',
        "deep": "[" * (MIB // 2) + "]" * (MIB // 2),
    }[name]
    start = time.perf_counter()
    with contextlib.suppress(wire.WireError):
        wire.loads(frame)
    assert time.perf_counter() - start < 2.0


def test_dumps_is_strict():
    with pytest.raises(ValueError):
        wire.dumps({"x": float("inf")})
    assert wire.dumps({"x": 1.5}) == '{"x": 1.5}'


def test_clip_keeps_the_start_and_says_how_long():
    assert wire.clip("abc") == "abc"
    assert wire.clip("x" * 60_000, 10) == "xxxxxxxxxx... (60000 characters)"


def test_oversized_names_the_member():
    assert "method name of 60000 characters" in wire.oversized({"method": "m" * 60_000})
    assert "id of 200 characters" in wire.oversized({"method": "m", "id": "i" * 200})
    assert "params of" in wire.oversized({"method": "m", "params": ["p" * wire.MAX_PARAMS]})
    assert wire.oversized({"method": "m", "id": 1, "params": {"a": 1}}) is None


# -- against a live bridge ---------------------------------------------------------------------


def auth_config(broker, rtsp, prefix):
    return make_config(broker.port, prefix, {"cam": {"url": rtsp.url}},
                       api={"auth": "required", "keys": KEY_CONFIG})


@contextlib.asynccontextmanager
async def alive_probe(bridge):
    """Poll ``/health/alive`` every 20 ms in the background; yields a list that ends up holding
    the slowest answer's latency (seconds) and the number of answers."""
    stats = [0.0, 0]
    async with aiohttp.ClientSession(base_url(bridge)) as http:
        async def poll():
            while True:
                start = time.perf_counter()
                async with http.get("/health/alive") as resp:
                    assert resp.status == 200
                stats[0] = max(stats[0], time.perf_counter() - start)
                stats[1] += 1
                await asyncio.sleep(0.02)

        task = asyncio.create_task(poll())
        try:
            yield stats
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_long_method_name_is_answered_at_once_and_the_loop_keeps_serving(broker, rtsp, prefix):
    """Regression (issue 12): a 60,000-character method name from a client without credentials
    froze the event loop for 28 s (quadratic redaction of the method-not-found text)."""
    config = auth_config(broker, rtsp, prefix)
    async with running(config) as bridge, alive_probe(bridge) as probe:
        for name in ("a" * 60_000, "rtsp://" + "a:" * 30_000, "a" * 15_000):
            async with connect(bridge) as client:
                start = time.perf_counter()
                await client.send({"jsonrpc": "2.0", "method": name, "id": 1})
                text = (await client.ws.receive(timeout=5)).data
                elapsed = time.perf_counter() - start
                reply = strict(text)
                assert elapsed < 1.0, f"{elapsed:.2f} s for a {len(name)}-character method name"
                assert reply["id"] in (1, None) and reply["error"]["code"] in (-32600, -32004), reply
                assert len(text) < 2000  # the name is not echoed back in full
            # authenticated: the same name is refused as too long, not looked up
            async with connect(bridge, {"X-API-Key": KEYS["viewer"]}) as client:
                start = time.perf_counter()
                error = await client.error(name)
                assert time.perf_counter() - start < 1.0
                if len(name) > wire.MAX_METHOD:
                    assert error["code"] == -32600 and f"{len(name)} characters" in error["message"]
        assert probe[1] > 0 and probe[0] < 1.0, f"/health/alive took {probe[0]:.2f} s"


async def test_unauthenticated_callers_learn_nothing_of_the_method_table(broker, rtsp, prefix):
    config = auth_config(broker, rtsp, prefix)
    async with running(config) as bridge, connect(bridge) as client:
        for name in ("no.such.method", "cameras.list"):
            error = await client.error(name)
            assert error["code"] == -32004 and error["data"]["error"] == "unauthorized"
            assert name not in json.dumps(error)
        assert (await client.error("rpc.discover.nope"))["code"] == -32004
        assert "methods" in await client.result("rpc.discover")
        # a frame larger than any auth message is refused before it is parsed
        await client.send({"jsonrpc": "2.0", "method": "auth", "params": {"token": "x" * 20_000}, "id": 5})
        reply = strict((await client.ws.receive(timeout=5)).data)
        assert reply["error"]["code"] == -32600 and "before authentication" in reply["error"]["message"]
        await client.result("auth", {"token": KEYS["viewer"]})
        assert (await client.error("no.such.method"))["code"] == -32601


async def test_hostile_json_gets_a_parse_error_and_the_connection_stays(broker, rtsp, prefix, caplog):
    """Regression (issue 12): nested JSON raised RecursionError (close 1002, a traceback);
    ``1e999`` came back as ``Infinity``; NaN literals were accepted."""
    config = auth_config(broker, rtsp, prefix)
    async with running(config) as bridge, connect(bridge, {"X-API-Key": KEYS["viewer"]}) as client:
        frames = {
            "[" * 2000 + "]" * 2000: "nested",
            "[" * 65 + "]" * 65: "nested",
            '{"jsonrpc": "2.0", "method": "cameras.list", "id": 1e999}': "out of range",
            '{"jsonrpc": "2.0", "method": "cameras.list", "id": -1e999}': "out of range",
            '{"jsonrpc": "2.0", "method": "cameras.list", "id": NaN}': "NaN",
            '{"jsonrpc": "2.0", "method": "cameras.get", "params": {"id": Infinity}, "id": 2}': "Infinity",
            "[" * (MIB // 2 - 10) + "]" * (MIB // 2 - 10): "arrays/objects; at most 10000",
            "[" + "[]," * 20_000 + "[]]": "arrays/objects; at most 10000",
        }
        for frame, words in frames.items():
            start = time.perf_counter()
            await client.send(frame)
            msg = await client.ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            assert time.perf_counter() - start < 2.0
            reply = strict(msg.data)
            assert reply["id"] is None and reply["error"]["code"] == -32700, reply
            assert words in reply["error"]["message"]
        # still open and serving; a large but finite number id is echoed as sent
        await client.send('{"jsonrpc": "2.0", "method": "cameras.list", "id": 1e300}')
        reply = strict((await client.ws.receive(timeout=5)).data)
        assert reply["id"] == 1e300 and "result" in reply
        # bounded ids and params
        await client.send({"jsonrpc": "2.0", "method": "cameras.list", "id": "i" * 500})
        reply = strict((await client.ws.receive(timeout=5)).data)
        assert reply["id"] is None and reply["error"]["code"] == -32600
        assert "id of 500 characters" in reply["error"]["message"]
        error = await client.error("cameras.get", {"id": "c" * (wire.MAX_PARAMS + 10)})
        assert error["code"] == -32600 and "params of" in error["message"]
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


async def test_nul_byte_in_a_header_is_one_log_line_without_traceback(broker, rtsp, prefix, caplog):
    """Regression (issue 12): a NUL byte in a request header put a BadHttpMessage traceback in
    the log. Now: 400, one line naming the client, warned once per client per minute."""
    caplog.set_level(logging.DEBUG)
    config = auth_config(broker, rtsp, prefix)
    secret = "cb_" + "s" * 40
    async with running(config) as bridge:
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", bridge.api.port)
            writer.write(f"GET /health/alive HTTP/1.1\r\nHost: x\r\nX-API-Key: {secret}\x00\r\n\r\n".encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.split()[1] == b"400", status
            writer.close()
        async with aiohttp.ClientSession(base_url(bridge)) as http, http.get("/health/alive") as resp:
            assert resp.status == 200
    lines = [r for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    assert len(lines) == 3, [r.getMessage() for r in caplog.records if r.name.startswith("aiohttp")]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert all("127.0.0.1" in r.getMessage() for r in lines)
    assert not any(r.exc_info or r.exc_text for r in caplog.records)
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text
    assert secret not in caplog.text


def test_http_log_warns_once_per_client_per_minute():
    from aiohttp.http_exceptions import BadHttpMessage

    now = [0.0]
    log = HttpLog(clock=lambda: now[0])
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(logging.DEBUG)
    logger = logging.getLogger("bridge.api.httplog")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        err = BadHttpMessage("Invalid header value char:\n\n  b'X: a\\x00'\n  ^")
        for when, client in ((0, "a"), (1, "a"), (2, "b"), (59, "a"), (61, "a")):
            now[0] = when
            log.exception("Error handling request from %s", client, exc_info=err)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert [(r.levelno, r.args[0]) for r in records] == [
        (logging.WARNING, "a"), (logging.DEBUG, "a"), (logging.WARNING, "b"), (logging.DEBUG, "a"),
        (logging.WARNING, "a")]
    assert all("\n" not in r.getMessage() and "x00" not in r.getMessage() for r in records)
