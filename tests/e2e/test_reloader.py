"""Hot reload's parts: what changed between two files, the history of applied files, and the
reloader: a bad file changes nothing and says why, a good one is applied once, a file edit is
noticed by itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge.config import ConfigError, parse
from bridge.config.diff import ConfigDiff, diff
from bridge.config.history import ConfigHistory
from bridge.reloader import Reloader, ReloadResult

BASE = """\
mqtt:
  host: 127.0.0.1
cameras:
  porch:
    url: rtsp://192.0.2.1/a
  door:
    url: rtsp://192.0.2.2/a
"""


def test_diff_names_each_camera_and_section_that_changed():
    old = parse(BASE, {})
    new = parse(BASE.replace("192.0.2.2/a", "192.0.2.2/b").replace("  porch:\n    url: rtsp://192.0.2.1/a\n", "")
                + "  attic:\n    url: rtsp://192.0.2.3/a\n" + "log_level: debug\n", {})
    change = diff(old, new)
    assert change == ConfigDiff(added=("attic",), removed=("porch",), changed=("door",), sections=("log_level",))
    assert change.summary() == "cameras +attic -porch ~door; log_level"
    assert diff(old, parse(BASE, {})).empty


def test_history_keeps_the_last_twenty_with_their_text(tmp_path: Path):
    history = ConfigHistory(tmp_path / "h")
    for i in range(25):
        history.record(f"text {i}\n", f"change {i}", "SIGHUP")
    entries = history.entries()
    assert [e.n for e in entries] == list(range(6, 26))
    assert history.text(25) == "text 24\n" and entries[-1].summary == "change 24"
    assert (tmp_path / "h" / "000025.yaml").stat().st_mode & 0o077 == 0  # may hold credentials
    with pytest.raises(ConfigError, match=r"no configuration 3 is kept \(kept: 6, 7"):
        history.text(3)


async def test_a_bad_file_changes_nothing_and_a_good_one_is_applied(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(BASE)
    applied: list[ConfigDiff] = []
    results: list[ReloadResult] = []

    async def apply(config, change):
        applied.append(change)
        return []

    reloader = Reloader(path, BASE, parse(BASE, {}), apply, results.append, ConfigHistory(tmp_path / "h"),
                        watch=False)
    async with reloader:
        path.write_text(BASE.replace("url: rtsp://192.0.2.2/a", "url: rtsp://192.0.2.2/a\n    snapshot: {intervall: 3}"))
        bad = await reloader.reload("SIGHUP")
        assert not bad.applied and applied == []
        assert any(e.startswith("cameras.door.snapshot.intervall") for e in bad.errors), bad.errors
        assert reloader.config_error == bad.errors
        assert reloader.config.cameras["door"].url == "rtsp://192.0.2.2/a"
        path.write_text(BASE.replace("192.0.2.2/a", "192.0.2.2/b"))
        good = await reloader.reload("api")
        assert good.applied and applied == [ConfigDiff(changed=("door",))]
        assert reloader.config_error is None and reloader.config.cameras["door"].url.endswith("/b")
        again = await reloader.reload("SIGHUP")
        assert not again.applied and len(applied) == 1
    assert [e.summary for e in reloader.history.entries()] == ["started", "cameras ~door"]
    assert [r.applied for r in results] == [False, True, False]


async def test_an_edit_of_the_file_is_noticed_and_applied_once(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(BASE)
    applied: list[ConfigDiff] = []

    async def apply(config, change):
        applied.append(change)
        return []

    reloader = Reloader(path, BASE, parse(BASE, {}), apply, lambda r: None, ConfigHistory(tmp_path / "h"),
                        poll=0.05, debounce=0.1)
    async with reloader:
        text = BASE + "log_level: debug\n"
        with path.open("w") as out:  # written in two steps, as editors do
            out.write(text[:20])
            out.flush()
            await asyncio.sleep(0.06)
            out.write(text[20:])
        for _ in range(100):
            if applied:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    assert applied == [ConfigDiff(sections=("log_level",))]
