"""SQLite state store: WAL, versioned schema, refusal of a newer schema, persistence."""

from __future__ import annotations

import sqlite3

import pytest

from bridge.store import MIGRATIONS, Store, StoreError


def test_new_database_is_migrated_to_the_current_version_in_wal_mode(tmp_path):
    store = Store(tmp_path / "sub" / "bridge.db")
    assert store.version == len(MIGRATIONS)
    mode = sqlite3.connect(tmp_path / "sub" / "bridge.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()


def test_cameras_survive_reopening_and_can_be_deleted(tmp_path):
    store = Store(tmp_path / "bridge.db")
    store.put_camera("porch", {"url": "rtsp://u:p@h/1", "snapshot": {"interval": 2}})
    store.put_camera("porch", {"url": "rtsp://u:p@h/2", "snapshot": {"interval": 5}})
    store.close()
    again = Store(tmp_path / "bridge.db")
    assert again.cameras() == {"porch": {"url": "rtsp://u:p@h/2", "snapshot": {"interval": 5}}}
    assert again.delete_camera("porch") is True
    assert again.delete_camera("porch") is False
    assert again.cameras() == {}
    assert again.healthy()
    again.close()


def test_a_newer_schema_is_left_untouched(tmp_path):
    path = tmp_path / "bridge.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this bridge"):
        Store(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open state database"):
        Store(blocker / "bridge.db")


def test_detection_switches_survive_reopening_and_go_with_their_camera(tmp_path):
    store = Store(tmp_path / "bridge.db")
    store.put_camera("porch", {"url": "rtsp://h/1"})
    store.set_detection("porch", False)
    store.set_detection("yard", True)
    store.set_detection("yard", False)
    store.close()
    again = Store(tmp_path / "bridge.db")
    assert again.detection() == {"porch": False, "yard": False}
    again.delete_camera("porch")
    assert again.detection() == {"yard": False}
    again.close()


def test_a_database_of_the_previous_version_gains_the_detection_table(tmp_path):
    path = tmp_path / "bridge.db"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:2]):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {number + 1}")
    db.execute("INSERT INTO cameras VALUES ('porch', '{}', 0, 0)")
    db.commit()
    db.close()
    store = Store(path)
    assert store.version == len(MIGRATIONS) and store.cameras() == {"porch": {}}
    store.set_detection("porch", False)
    assert store.detection() == {"porch": False}
    store.close()
