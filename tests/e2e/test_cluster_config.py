"""The ``cluster:`` section: off by default, its DSN a secret, bad values named with their key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import ConfigError, parse

BASE = """
mqtt:
  host: 127.0.0.1
cameras:
  porch:
    url: rtsp://192.0.2.20/stream1
"""


def test_a_bridge_without_cluster_runs_alone():
    config = parse(BASE, {})
    assert not config.cluster.enabled and config.cluster.lease_ttl == 15.0
    assert config.cluster.member  # the host name


def test_the_dsn_may_come_from_the_environment_and_is_masked(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + "cluster:\n  dsn: !env PG_DSN\n  name: bridge-a\n")
    dsn = "postgresql://bridge:s3cretpw@db.lan/cameras"
    config = parse(path.read_text(), {"PG_DSN": dsn})
    assert config.cluster.enabled and config.cluster.dsn == dsn and config.cluster.member == "bridge-a"
    out = subprocess.run([sys.executable, "-m", "bridge", "check-config", "--config", str(path)],
                         capture_output=True, text=True, timeout=30,
                         env={"PG_DSN": dsn, "PATH": "/usr/bin"})
    assert out.returncode == 0, out.stderr
    assert "s3cretpw" not in out.stdout and "s3cretpw" not in out.stderr


@pytest.mark.parametrize(("section", "expected"), [
    ("  dsn: mysql://db/x\n", "cluster.dsn"),
    ("  dsn: postgresql://db/x\n  name: 'two words'\n", "cluster.name"),
    ("  dsn: postgresql://db/x\n  lease_ttl: 10\n  renew_interval: 6\n", "cluster.renew_interval"),
])
def test_bad_cluster_options_name_their_key(section: str, expected: str):
    with pytest.raises(ConfigError) as info:
        parse(BASE + "cluster:\n" + section, {})
    assert any(e.startswith(expected) for e in info.value.errors), info.value.errors
