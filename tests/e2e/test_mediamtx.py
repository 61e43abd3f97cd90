"""MediaMTX control without the rest of the bridge: the API client against the fake MediaMTX
(every request and response checked against MediaMTX's OpenAPI document), old and new field
names, the circuit breaker, the reconciler, and the generated mediamtx.yml."""

from __future__ import annotations

import dataclasses
import json
import stat
import subprocess
import sys

import pytest
import yaml

from bridge.config import parse
from bridge.mediamtx.breaker import BreakerState, CircuitBreaker, CircuitOpen
from bridge.mediamtx.client import MediamtxClient, MediamtxNotFound, MediamtxUnavailable, PathStats
from bridge.mediamtx.generate import build, generated_paths, render, write_atomic
from bridge.mediamtx.paths import differences, duration_seconds, path_conf
from bridge.mediamtx.reconciler import reconcile

from ..fake_mediamtx import FakeMediamtx
from ..peers import SHARED, free_port

DEFAULTS = yaml.safe_load((SHARED / "mediamtx" / "mediamtx.yml").read_text(encoding="utf-8"))


def config(cameras: dict, **media):
    return parse(yaml.safe_dump({"mqtt": {"host": "h"}, "cameras": cameras,
                                 "mediamtx": {"enabled": True, **media}}), {})


CAMS = {"front": {"url": "rtsp://u:pw@192.0.2.5:554/s1"}, "desk": {"device": "/dev/video0"}}


async def test_client_calls_every_endpoint_within_the_contract():
    async with FakeMediamtx() as fake, MediamtxClient(fake.url) as client:
        info = await client.info()
        assert info["started"] == fake.started
        await client.add_path("front", {"source": "rtsp://192.0.2.5/s1", "sourceOnDemand": False})
        await client.patch_path("front", {"record": True})
        assert (await client.get_path_config("front"))["record"] is True
        await client.replace_path("front", {"source": "rtsp://192.0.2.6/s1"})
        assert "record" not in await client.get_path_config("front")
        assert list(await client.list_path_configs()) == ["front"]
        stats = await client.list_paths()
        assert stats["front"].online and stats["front"].inbound_bytes > 0
        assert (await client.get_path("front")).name == "front"
        fake.recordings["front"] = ["2026-01-02T03:04:05Z"]
        assert await client.list_recordings() == {"front": ["2026-01-02T03:04:05Z"]}
        assert await client.get_recordings("front") == ["2026-01-02T03:04:05Z"]
        with pytest.raises(MediamtxNotFound):
            await client.get_recordings("nothing")
        await client.delete_path("front")
        with pytest.raises(MediamtxNotFound):
            await client.delete_path("front")
    assert ("PATCH", "/v3/config/paths/patch/front") in fake.requests


async def test_the_fake_rejects_what_mediamtx_would_not_accept():
    """The contract check itself: an unknown field is a violation (and a failed test)."""
    async with MediamtxClient(f"http://127.0.0.1:{free_port()}") as client:
        fake = FakeMediamtx()
        await fake.start()
        try:
            client._base = fake.url
            with pytest.raises(Exception):
                await client.add_path("x", {"sourceOnDemandd": True})
        finally:
            await fake.stop()
    assert fake.violations and "sourceOnDemandd" in fake.violations[0]


@pytest.mark.parametrize("old", [False, True])
async def test_path_statistics_read_with_old_and_new_field_names(old):
    async with FakeMediamtx(old_fields=old) as fake, MediamtxClient(fake.url) as client:
        fake.paths["cam"] = {"source": "rtsp://192.0.2.5/s1"}
        fake.readers["cam"] = 2
        stats = (await client.list_paths())["cam"]
    assert (stats.online, stats.readers, stats.inbound_bytes, stats.outbound_bytes) == (True, 2, 123456, 654321)


def test_path_stats_prefer_new_names_when_both_are_present():
    stats = PathStats.from_api({"name": "a", "online": False, "ready": True, "inboundBytes": 5,
                                "bytesReceived": 9, "outboundBytes": 1, "bytesSent": 2})
    assert (stats.online, stats.inbound_bytes, stats.outbound_bytes) == (False, 5, 1)


async def test_client_reports_an_absent_mediamtx_as_unavailable():
    async with MediamtxClient(f"http://127.0.0.1:{free_port()}", timeout=1) as client:
        with pytest.raises(MediamtxUnavailable):
            await client.info()


# -- circuit breaker --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_breaker_opens_fails_fast_and_backs_off_exponentially():
    clock = Clock()
    breaker = CircuitBreaker((OSError,), threshold=2, base=1.0, cap=8.0, clock=clock, rand=lambda: 0.5)
    attempts = 0

    async def down():
        nonlocal attempts
        attempts += 1
        raise OSError("refused")

    for _ in range(2):
        with pytest.raises(OSError):
            await breaker.call(down)
    assert breaker.state is BreakerState.OPEN and attempts == 2
    for _ in range(50):  # a storm of calls while open sends nothing
        with pytest.raises(CircuitOpen):
            await breaker.call(down)
    assert attempts == 2
    delays = []
    for _ in range(5):  # each failed half-open trial doubles the open time, up to the cap
        delays.append(breaker.retry_in)
        clock.now += breaker.retry_in
        with pytest.raises(OSError):
            await breaker.call(down)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert attempts == 2 + 5

    async def up():
        return "ok"

    clock.now += breaker.retry_in
    assert await breaker.call(up) == "ok"
    assert breaker.state is BreakerState.CLOSED and breaker.retry_in == 0


async def test_breaker_lets_one_trial_through_when_half_open():
    clock = Clock()
    breaker = CircuitBreaker((OSError,), threshold=1, base=1.0, clock=clock, rand=lambda: 0.5)

    async def fail():
        raise OSError

    with pytest.raises(OSError):
        await breaker.call(fail)
    clock.now = 5
    import asyncio
    gate = asyncio.Event()

    async def slow():
        await gate.wait()
        return 1

    trial = asyncio.create_task(breaker.call(slow))
    await asyncio.sleep(0)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        await breaker.call(slow)
    gate.set()
    assert await trial == 1 and breaker.state is BreakerState.CLOSED


def test_breaker_jitter_stays_within_20_percent():
    lo = CircuitBreaker((OSError,), base=10, cap=100, rand=lambda: 0.0).delay(0)
    hi = CircuitBreaker((OSError,), base=10, cap=100, rand=lambda: 1.0).delay(0)
    assert (lo, hi) == (8.0, 12.0)


# -- reconciler -------------------------------------------------------------------------------


async def test_reconciler_adds_patches_and_deletes_only_its_own_paths():
    cfg = config(CAMS)
    desired = {cam_id: path_conf(cam, cfg.mediamtx, False) for cam_id, cam in cfg.cameras.items()}
    async with FakeMediamtx() as fake, MediamtxClient(fake.url) as client:
        fake.paths["someone_elses"] = {"source": "rtsp://192.0.2.9/x"}
        first = await reconcile(client, desired, set())
        assert sorted(first.added) == ["desk", "front"] and not first.patched and not first.deleted
        assert first.owned == {"desk", "front"}
        assert fake.paths["front"]["source"] == "rtsp://u:pw@192.0.2.5:554/s1"
        assert fake.paths["front"]["sourceOnDemand"] is False
        assert fake.paths["desk"]["runOnInitRestart"] is True

        # nothing to do: no write at all
        writes = len(fake.calls("POST")) + len(fake.calls("PATCH")) + len(fake.calls("DELETE"))
        again = await reconcile(client, desired, first.owned)
        assert not again.changed
        assert len(fake.calls("POST")) + len(fake.calls("PATCH")) + len(fake.calls("DELETE")) == writes

        # record switched on for front, desk removed from the bridge
        desired2 = {"front": path_conf(cfg.cameras["front"], cfg.mediamtx, True)}
        second = await reconcile(client, desired2, first.owned)
        assert second.patched == ["front"] and second.deleted == ["desk"]
        assert fake.paths["front"]["record"] is True and "desk" not in fake.paths
        assert fake.calls("POST", "/v3/config/paths/replace") == [("POST", "/v3/config/paths/replace/front")]
        assert "someone_elses" in fake.paths and second.owned == {"front"}


async def test_a_camera_that_changed_kind_keeps_no_stale_publisher():
    """USB -> RTSP under the same id: the path's ``runOnInit`` ffmpeg (which would keep the V4L2
    device open) and ``runOnInitRestart`` are gone, not left over from the USB path."""
    cfg = config(CAMS)
    desk = cfg.cameras["desk"]
    usb = {"desk": path_conf(desk, cfg.mediamtx, False)}
    assert usb["desk"]["runOnInit"].startswith("ffmpeg")
    rtsp_cam = dataclasses.replace(desk, device=None, url="rtsp://192.0.2.6:554/desk")
    async with FakeMediamtx() as fake, MediamtxClient(fake.url) as client:
        owned = (await reconcile(client, usb, set())).owned
        result = await reconcile(client, {"desk": path_conf(rtsp_cam, cfg.mediamtx, False)}, owned)
        assert result.patched == ["desk"]
        assert fake.paths["desk"]["source"] == "rtsp://192.0.2.6:554/desk"
        assert "runOnInit" not in fake.paths["desk"] and "runOnInitRestart" not in fake.paths["desk"]


async def test_reconciler_leaves_a_foreign_path_of_the_same_name_alone():
    cfg = config(CAMS)
    desired = {cam_id: path_conf(cam, cfg.mediamtx, False) for cam_id, cam in cfg.cameras.items()}
    async with FakeMediamtx() as fake, MediamtxClient(fake.url) as client:
        fake.paths["front"] = {"source": "rtsp://192.0.2.77/other"}
        fake.paths["desk"] = dict(desired["desk"])  # identical: adopted
        result = await reconcile(client, desired, set())
        assert result.conflicts == ["front"] and fake.paths["front"]["source"] == "rtsp://192.0.2.77/other"
        assert result.owned == {"desk"} and not result.changed


async def test_a_refused_path_does_not_stop_the_others():
    cfg = config(CAMS)
    desired = {cam_id: path_conf(cam, cfg.mediamtx, False) for cam_id, cam in cfg.cameras.items()}
    async with FakeMediamtx() as fake, MediamtxClient(fake.url) as client:
        fake.refuse = {"desk"}
        result = await reconcile(client, desired, set())
        assert result.added == ["front"] and list(result.failed) == ["desk"]
        assert "invalid configuration" in result.failed["desk"] and result.owned == {"front"}


async def test_client_authenticates_with_basic_auth():
    async with FakeMediamtx() as fake, MediamtxClient(fake.url, username="bridge", password="Api-Pw-1") as client:
        await client.info()
    import base64
    assert fake.headers[-1]["Authorization"] == "Basic " + base64.b64encode(b"bridge:Api-Pw-1").decode()


async def test_reconciler_replays_everything_after_a_restart():
    cfg = config(CAMS)
    desired = {cam_id: path_conf(cam, cfg.mediamtx, cam_id == "front") for cam_id, cam in cfg.cameras.items()}
    async with FakeMediamtx() as fake, MediamtxClient(fake.url) as client:
        owned = (await reconcile(client, desired, set())).owned
        before = (await client.info())["started"]
        await fake.restart()
        assert fake.paths == {} and (await client.info())["started"] != before
        result = await reconcile(client, desired, owned)
        assert sorted(result.added) == ["desk", "front"] and fake.paths["front"]["record"] is True


def test_durations_compare_as_mediamtx_normalises_them():
    assert duration_seconds("1h0m0s") == duration_seconds("1h") == 3600
    assert duration_seconds("24h0m0s") == duration_seconds("1d")
    assert duration_seconds("soon") is None
    assert differences({"recordSegmentDuration": "1h0m0s", "record": False},
                       {"recordSegmentDuration": "1h", "record": True}) == {"record": True}


# -- generated configuration ----------------------------------------------------------------


def _merge(items):
    """The union of a list of option mappings (nested lists of mappings concatenated)."""
    merged = {}
    for item in items:
        for key, value in item.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                merged[key] = merged.get(key, []) + value
            elif merged.get(key) is None:
                merged[key] = value
    return merged


def _assert_keys_exist(data, defaults, where, path_level):
    assert isinstance(data, dict)
    for key, value in data.items():
        here = f"{where}.{key}" if where else key
        if where == "paths":
            _assert_keys_exist(value, path_level, here, path_level)
            continue
        assert key in defaults, f"{here} is not a MediaMTX option"
        default = defaults[key]
        if isinstance(default, dict) and key != "paths":
            _assert_keys_exist(value, default, here, path_level)
        elif isinstance(default, list) and default and isinstance(default[0], dict):
            merged = _merge(default)
            for item in value:
                _assert_keys_exist(item, merged, here + "[]", path_level)
        elif default is not None and key != "paths":
            assert type(value) is type(default) or (isinstance(default, str) and isinstance(value, str)), (
                f"{here}: {type(value).__name__} where MediaMTX has {type(default).__name__}")


def test_generated_config_is_yaml_with_only_mediamtx_keys(tmp_path):
    cfg = config({**CAMS, "desk": {"device": "/dev/video0", "video_size": "1280x720", "framerate": 15},
                  "demo": {"url": "lavfi:testsrc2=size=320x240:rate=5"}},
                 username="bridge", password="Api-Pw-1", record={"enabled": True, "segment_duration": "10m"})
    text = render(build(cfg))
    data = yaml.safe_load(text)
    path_level = dict(DEFAULTS["pathDefaults"])
    _assert_keys_exist(data, DEFAULTS, "", path_level)
    assert data["api"] is True and data["apiAddress"] == ":9997"
    assert data["paths"]["front"]["sourceOnDemand"] is False
    desk = data["paths"]["desk"]
    assert desk["runOnInitRestart"] is True
    cmd = desk["runOnInit"]
    assert "-f v4l2 -input_format mjpeg -video_size 1280x720 -framerate 15 -i /dev/video0" in cmd
    assert "-tune zerolatency" in cmd and cmd.endswith("rtsp://localhost:$RTSP_PORT/$MTX_PATH")
    assert data["pathDefaults"]["recordSegmentDuration"] == "10m" and data["paths"]["front"]["record"] is True
    assert {"user": "bridge", "pass": "Api-Pw-1", "ips": [], "permissions": [{"action": "api", "path": ""}]} \
        in data["authInternalUsers"]
    # publish (and the API) only from this machine; anyone may watch; no publisher takeover
    for user in data["authInternalUsers"]:
        actions = {p["action"] for p in user["permissions"]}
        if "publish" in actions or "api" in actions and user["user"] == "any":
            assert user["ips"] and set(user["ips"]) <= {"127.0.0.1", "::1"}, user
    assert any(u["user"] == "any" and not u["ips"] and {p["action"] for p in u["permissions"]} >= {"read"}
               for u in data["authInternalUsers"])
    assert any("publish" in {p["action"] for p in u["permissions"]} for u in data["authInternalUsers"])
    assert data["pathDefaults"]["overridePublisher"] is False
    out = tmp_path / "mtx" / "mediamtx.yml"
    write_atomic(out, text)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert generated_paths(str(out)) == {"front", "desk", "demo"}


def test_secrets_are_masked_in_check_config_and_stream_urls():
    from bridge.config import masked
    from bridge.mediamtx.paths import stream_urls

    cfg = config(CAMS, password="Api-Pw-1", rtsp_url="rtsp://view:Rtsp-Pw-2@media.lan:8554")
    assert masked(cfg)["mediamtx"]["password"] == "***"
    urls = stream_urls(cfg.mediamtx, "front")
    assert "Rtsp-Pw-2" not in json.dumps(urls) and urls["rtsp"].startswith("rtsp://view:***@media.lan")


def test_bad_mediamtx_options_name_their_key_path():
    from bridge.config import ConfigError

    with pytest.raises(ConfigError) as err:
        config(CAMS, api_url="ftp://x", record={"path": "./rec/%Y", "format": "mkv", "segment_duration": "1 hour"})
    assert set(err.value.errors) == {
        "mediamtx.api_url: expected http(s)://host:port, got 'ftp://x'",
        "mediamtx.record.path: must contain %path, got './rec/%Y'",
        "mediamtx.record.format: expected one of fmp4, mpegts, got 'mkv'",
        "mediamtx.record.segment_duration: expected a duration such as 30m, 1h, got '1 hour'"}


def test_usb_camera_without_mjpeg_is_published_from_its_default_format():
    cfg = config(CAMS)
    conf = path_conf(cfg.cameras["desk"], cfg.mediamtx, False, formats=["YUYV"])
    assert "-input_format" not in conf["runOnInit"]


def test_cli_writes_the_generated_config(tmp_path):
    out = tmp_path / "mediamtx.yml"
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(yaml.safe_dump({"mqtt": {"host": "h"}, "cameras": CAMS,
                                        "mediamtx": {"enabled": True, "config_out": str(out)}}))
    result = subprocess.run([sys.executable, "-m", "bridge", "mediamtx-config", "--config", str(cfg_file)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(yaml.safe_load(out.read_text())["paths"]) == ["desk", "front"]
    assert str(out) in result.stdout and "pw" not in result.stdout
    # without config_out: to stdout
    cfg_file.write_text(yaml.safe_dump({"mqtt": {"host": "h"}, "cameras": CAMS}))
    result = subprocess.run([sys.executable, "-m", "bridge", "mediamtx-config", "--config", str(cfg_file), "--stdout"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "paths" in yaml.safe_load(result.stdout)
    json.dumps(yaml.safe_load(result.stdout))


def test_the_publisher_command_runs_with_real_ffmpeg(tmp_path, clip):
    """The runOnInit command of a lavfi and a file camera, with MediaMTX's RTSP target swapped
    for a file: ffmpeg accepts every option and writes H.264."""
    import shlex

    import av

    cfg = config({"synth": {"url": "lavfi:testsrc2=size=320x240:rate=10"}, "clip": {"url": str(clip)}})
    for cam_id in ("synth", "clip"):
        cmd = path_conf(cfg.cameras[cam_id], cfg.mediamtx, False)["runOnInit"]
        args = shlex.split(cmd.removesuffix(" rtsp://localhost:$RTSP_PORT/$MTX_PATH"))
        out = tmp_path / f"{cam_id}.mkv"
        args = [a for a in args if a not in ("-re",)]
        i = args.index("-f", args.index("-an"))
        args[i:] = ["-t", "1", "-f", "matroska", str(out)]
        subprocess.run(args, check=True, timeout=60, capture_output=True)
        with av.open(str(out)) as container:
            assert container.streams.video[0].codec_context.name == "h264"


def test_a_camera_with_several_streams_restreams_and_records_its_restream_stream():
    cfg = config({"porch": {"streams": [
        {"url": "rtsp://u:pw@192.0.2.7:554/sub", "roles": ["detect"]},
        {"url": "rtsp://u:pw@192.0.2.7:554/main", "roles": ["snapshot", "restream", "record"]}]}})
    conf = path_conf(cfg.cameras["porch"], cfg.mediamtx, True)
    assert conf["source"] == "rtsp://u:pw@192.0.2.7:554/main" and conf["record"] is True
