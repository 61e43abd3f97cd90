"""The camera password never leaves the bridge: not in logs, not on MQTT."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import yaml

from bridge.redact import REDACTOR, mask_url

from ..conftest import CAMERA_PASSWORD, CAMERA_USER, make_config, recording, running


def test_mask_url_masks_credentials_in_any_text():
    text = "failed rtsp://admin:p@ss:w0rd@10.0.0.2:554/s1 and http://u:x@h/a"
    assert mask_url(text) == "failed rtsp://admin:***@10.0.0.2:554/s1 and http://u:***@h/a"
    assert mask_url("rtsp://10.0.0.2/stream") == "rtsp://10.0.0.2/stream"


def test_registered_secrets_are_masked_raw_and_percent_encoded():
    REDACTOR.add("p@ss/word")
    assert REDACTOR.redact("pw p@ss/word or p%40ss%2Fword") == "pw *** or ***"


async def test_password_in_no_log_line_and_no_mqtt_payload(broker, rtsp, prefix, debug_logs):
    url = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    dead = f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@127.0.0.1:9/none"
    config = make_config(broker.port, prefix, {"cam": {"url": url}, "dead": {"url": dead, "open_timeout": 1}})
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: rec.on(f"{prefix}/cam/snapshot"), 10, "a snapshot")
        await rec.wait(lambda: [m for m in rec.on(f"{prefix}/dead/status")
                                if json.loads(m.payload)["state"] == "backoff"], 10, "dead camera error")
    error = [json.loads(m.payload)["error"] for m in rec.on(f"{prefix}/dead/status")
             if json.loads(m.payload)["error"]][0]
    assert f"rtsp://{CAMERA_USER}:***@127.0.0.1:9/none" in error  # names the source, masked
    assert rec.messages
    for msg in rec.messages:
        assert CAMERA_PASSWORD.encode() not in msg.payload, msg.topic
    lines = [r.getMessage() + (r.exc_text or "") for r in debug_logs.records]
    assert any("dead" in line for line in lines)
    # caplog sees records before any handler filter: the bridge's own messages are clean
    assert not [line for line in lines if CAMERA_PASSWORD in line]


def test_cli_output_never_shows_the_password(broker, rtsp, prefix, tmp_path):
    url = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "log_level": "debug",
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": prefix},
        "cameras": {"cam": {"url": url},
                    "dead": {"url": f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@127.0.0.1:9/x", "open_timeout": 1}},
        "api": {"port": 0}, "data_dir": str(tmp_path / "data"),
    }))
    check = subprocess.run([sys.executable, "-m", "bridge", "check-config", "-c", str(cfg)],
                           capture_output=True, text=True, check=True)
    assert CAMERA_PASSWORD not in check.stdout + check.stderr
    assert f"rtsp://{CAMERA_USER}:***@" in check.stdout
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "run", "-c", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + 30  # a cold start (imports, first keyframe) can take seconds
    while time.monotonic() < deadline and not (
            any("streaming" in line for line in lines) and any("dead" in line for line in lines)):
        time.sleep(0.2)
    proc.terminate()
    proc.wait(15)
    reader.join(5)
    out = "".join(lines)
    assert "streaming" in out and "dead" in out, out[-2000:]
    assert CAMERA_PASSWORD not in out


def test_secret_query_parameters_are_masked():
    assert mask_url("http://cam/snap.cgi?user=admin&password=abc123&x=1") == (
        "http://cam/snap.cgi?user=admin&password=***&x=1")
    assert mask_url("rtsp://cam/live?token=eyJabc") == "rtsp://cam/live?token=***"
    assert mask_url("cannot open rtsp://cam/s?token=abc: refused") == "cannot open rtsp://cam/s?token=***: refused"


def test_check_config_masks_credentials_in_mediamtx_urls(tmp_path):
    """``check-config`` shows MediaMTX URLs without their passwords, and the passwords are
    masked wherever else they would appear (an error naming the URL, a log line)."""
    media = {"enabled": True, "api_url": "http://api:Api-Url-Pw1@127.0.0.1:9997",
             "rtsp_url": "rtsp://view:Rtsp-Url-Pw2@media.lan:8554", "hls_url": "http://v:Hls-Url-Pw3@media.lan:8888",
             "webrtc_url": "http://v:Rtc-Url-Pw4@media.lan:8889"}
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"mqtt": {"host": "127.0.0.1"}, "cameras": {"c": {"url": "rtsp://192.0.2.1/s"}},
                                   "mediamtx": media, "data_dir": str(tmp_path / "data")}))
    check = subprocess.run([sys.executable, "-m", "bridge", "check-config", "-c", str(cfg)],
                           capture_output=True, text=True, check=True)
    out = check.stdout + check.stderr
    for secret in ("Api-Url-Pw1", "Rtsp-Url-Pw2", "Hls-Url-Pw3", "Rtc-Url-Pw4"):
        assert secret not in out
    assert "rtsp://view:***@media.lan:8554" in out and "http://api:***@127.0.0.1:9997" in out

    from bridge.config import parse

    parse(cfg.read_text(), {})
    assert REDACTOR.redact("GET failed: Api-Url-Pw1, Rtsp-Url-Pw2") == "GET failed: ***, ***"
