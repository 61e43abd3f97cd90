"""Timelapse scheduling with an injected clock: interval, fixed and overnight windows, sunrise/
sunset windows (checked against astral's own figures and the almanac), days of the week, end
conditions, resuming without a burst of catch-up frames, the daily render time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral.sun import sun

from bridge.timelapse import schedule
from bridge.config.timelapse import Defaults, Settings, Spec

BERLIN = ZoneInfo("Europe/Berlin")
LOCATION = Defaults(latitude=52.52, longitude=13.405, timezone="Europe/Berlin")


def at(text: str) -> float:
    """A Berlin local time as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def local(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, BERLIN).strftime("%Y-%m-%d %H:%M:%S")


def spec(**kwargs) -> Spec:
    return Spec(id="t", camera="cam", **kwargs)


def test_interval_from_the_last_frame():
    s, every = spec(), Settings(interval=30)
    now = at("2026-06-22T10:00:00")
    assert schedule.next_capture(s, every, LOCATION, None, now) == now  # first frame at once
    assert schedule.next_capture(s, every, LOCATION, now, now + 1) == now + 30
    assert schedule.next_capture(s, every, LOCATION, now, now + 29.9) == now + 30


def test_resume_after_a_long_pause_takes_one_frame_not_a_burst():
    """A restart a day after the last frame: the next frame is due now, and the one after it a
    full interval later (not the thousands of missed frames)."""
    s, every = spec(), Settings(interval=60)
    last = at("2026-06-21T10:00:00")
    now = last + 86400
    due = schedule.next_capture(s, every, LOCATION, last, now)
    assert due == now
    assert schedule.next_capture(s, every, LOCATION, due, now + 0.5) == due + 60


def test_fixed_window():
    s, every = spec(window_start="08:00", window_end="17:30"), Settings(interval=600)
    assert local(schedule.next_capture(s, every, LOCATION, None, at("2026-06-22T06:00:00"))) == "2026-06-22 08:00:00"
    inside = at("2026-06-22T12:00:00")
    assert schedule.next_capture(s, every, LOCATION, None, inside) == inside
    # the last frame at 17:25 would be due at 17:35: after the window, so 08:00 the next day
    last = at("2026-06-22T17:25:00")
    assert local(schedule.next_capture(s, every, LOCATION, last, last + 1)) == "2026-06-23 08:00:00"
    assert schedule.in_window(s, LOCATION, inside) and not schedule.in_window(s, LOCATION, at("2026-06-22T17:30:00"))


def test_overnight_window_ends_the_next_morning():
    s, every = spec(window_start="22:00", window_end="06:00"), Settings(interval=60)
    assert schedule.in_window(s, LOCATION, at("2026-06-23T03:00:00"))
    assert not schedule.in_window(s, LOCATION, at("2026-06-23T12:00:00"))
    assert local(schedule.next_capture(s, every, LOCATION, None, at("2026-06-23T12:00:00"))) == "2026-06-23 22:00:00"


def test_sunrise_to_sunset_window_matches_astral_and_the_almanac():
    day = date(2026, 6, 21)
    s = spec(window_start="sunrise", window_end="sunset", start_offset=-1800, end_offset=900)
    start, end = schedule.window(s, day, LOCATION)
    expected = sun(Observer(52.52, 13.405), date=day, tzinfo=BERLIN)
    assert start == pytest.approx(expected["sunrise"].timestamp() - 1800, abs=1)
    assert end == pytest.approx(expected["sunset"].timestamp() + 900, abs=1)
    # almanac (timeanddate.com, Berlin, 21 June 2026): sunrise 04:43, sunset 21:33 CEST
    assert abs(start + 1800 - at("2026-06-21T04:43:00")) < 180
    assert abs(end - 900 - at("2026-06-21T21:33:00")) < 180
    # before dawn the first frame waits for the window
    due = schedule.next_capture(s, Settings(interval=60), LOCATION, None, at("2026-06-21T01:00:00"))
    assert due == pytest.approx(start)


def test_polar_night_has_no_window():
    tromso = Defaults(latitude=69.65, longitude=18.96, timezone="Europe/Oslo")
    s = spec(window_start="sunrise", window_end="sunset")
    assert schedule.window(s, date(2026, 12, 21), tromso) is None


def test_days_of_week():
    s, every = spec(days=("sat", "sun")), Settings(interval=60)
    friday_noon = at("2026-06-19T12:00:00")  # 2026-06-19 is a Friday
    assert datetime.fromtimestamp(friday_noon, BERLIN).strftime("%a") == "Fri"
    assert local(schedule.next_capture(s, every, LOCATION, None, friday_noon)) == "2026-06-20 00:00:00"
    saturday = at("2026-06-20T15:00:00")
    assert schedule.next_capture(s, every, LOCATION, None, saturday) == saturday
    windowed = spec(days=("mon",), window_start="09:00", window_end="10:00")
    assert local(schedule.next_capture(windowed, every, LOCATION, None, friday_noon)) == "2026-06-22 09:00:00"


def test_end_conditions():
    start = at("2026-06-22T10:00:00")
    assert schedule.end_reason(spec(end_frames=3), LOCATION, 2, start, start) is None
    assert schedule.end_reason(spec(end_frames=3), LOCATION, 3, start, start) == "end_frames"
    assert schedule.end_reason(spec(end_after=3600), LOCATION, 0, start, start + 3599) is None
    assert schedule.end_reason(spec(end_after=3600), LOCATION, 0, start, start + 3600) == "end_after"
    by_date = spec(end_date="2026-06-22")  # ends at the local midnight after that day
    assert schedule.end_reason(by_date, LOCATION, 0, start, at("2026-06-22T23:59:59")) is None
    assert schedule.end_reason(by_date, LOCATION, 0, start, at("2026-06-23T00:00:00")) == "end_date"
    by_time = spec(end_date="2026-06-22T18:00")
    assert schedule.end_time(by_time, LOCATION, start) == at("2026-06-22T18:00:00")
    assert schedule.end_time(spec(end_after=60, end_date="2026-07-01"), LOCATION, start) == start + 60


def test_daily_render_time():
    assert local(schedule.next_daily("23:30", at("2026-06-22T10:00:00"), BERLIN)) == "2026-06-22 23:30:00"
    assert local(schedule.next_daily("23:30", at("2026-06-22T23:30:00"), BERLIN)) == "2026-06-23 23:30:00"


def test_dst_change_keeps_local_window_times():
    """Berlin switches to summer time on 2026-03-29: the 08:00 window stays at 08:00 local."""
    s = spec(window_start="08:00", window_end="09:00")
    before, after = schedule.window(s, date(2026, 3, 28), LOCATION), schedule.window(s, date(2026, 3, 29), LOCATION)
    assert local(before[0]).endswith("08:00:00") and local(after[0]).endswith("08:00:00")
    assert after[0] - before[0] == timedelta(hours=23).total_seconds()
