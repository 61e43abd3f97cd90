"""When a timelapse captures: pure functions of its spec and an injected clock value.

Times are seconds since the epoch (UTC); windows, days of the week, ``end_date`` and
``render_at`` are local times in the configured zone (``timelapse.timezone``, else the system's).
Sunrise and sunset come from the ``astral`` library (NOAA solar equations) for
``timelapse.latitude``/``longitude``, computed locally.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from astral import Observer
from astral.sun import sun

from ..config.timelapse import DAYS, SUN_EVENTS, Defaults, Settings, Spec

#: days ahead searched for the next window (a week covers every days-of-week choice)
SEARCH_DAYS = 8


def _zone(tz: tzinfo | None) -> tzinfo:
    """``tz``, or the system's current local zone."""
    return tz if tz is not None else datetime.now().astimezone().tzinfo  # type: ignore[return-value]


def local_date(timestamp: float, tz: tzinfo | None) -> date:
    """The local calendar date of an instant."""
    return datetime.fromtimestamp(timestamp, _zone(tz)).date()


def _at(day: date, hhmm: str, tz: tzinfo | None) -> datetime:
    hour, minute = (int(p) for p in hhmm.split(":"))
    naive = datetime.combine(day, time(hour, minute))
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()


def sun_event(event: str, day: date, defaults: Defaults) -> datetime | None:
    """``sunrise`` or ``sunset`` on local ``day`` at the configured location (None when the
    sun does not rise or set that day, as near the poles). Raises ValueError without a location."""
    if defaults.latitude is None or defaults.longitude is None:
        raise ValueError("sunrise/sunset needs timelapse.latitude and timelapse.longitude")
    try:
        times = sun(Observer(defaults.latitude, defaults.longitude), date=day, tzinfo=_zone(defaults.tzinfo))
    except ValueError:  # astral: "Sun never reaches ..." (polar day or night)
        return None
    return times[event]


def _edge(edge: str | None, day: date, defaults: Defaults, *, end: bool) -> datetime | None:
    if edge is None:
        return _at(day + timedelta(days=1) if end else day, "00:00", defaults.tzinfo)
    if edge in SUN_EVENTS:
        return sun_event(edge, day, defaults)
    return _at(day, edge, defaults.tzinfo)


def window(spec: Spec, day: date, defaults: Defaults) -> tuple[float, float] | None:
    """The capture window starting on local ``day`` as ``(start, end)`` epoch seconds, offsets
    applied; None when ``day`` is not one of ``spec.days`` or the sun does not rise/set. A window
    whose end is not after its start (``22:00``-``06:00``) ends on the next day."""
    if DAYS[day.weekday()] not in spec.days:
        return None
    start = _edge(spec.window_start, day, defaults, end=False)
    end = _edge(spec.window_end, day, defaults, end=True)
    if start is None or end is None:
        return None
    begin = start.timestamp() + spec.start_offset
    finish = end.timestamp() + spec.end_offset
    if finish <= begin:
        later = _edge(spec.window_end, day + timedelta(days=1), defaults, end=True)
        if later is None:
            return None
        finish = later.timestamp() + spec.end_offset
    return (begin, finish) if finish > begin else None


def next_capture(spec: Spec, settings: Settings, defaults: Defaults, last: float | None, now: float) -> float | None:
    """When the next frame is due: ``last + interval`` (``now`` when that has passed, so a
    restart after a long pause takes one frame, never a burst of catch-up frames), moved to the
    start of the next window when outside one. None when no window opens within
    :data:`SEARCH_DAYS` days."""
    candidate = now if last is None else max(now, last + settings.interval)
    first = local_date(candidate, defaults.tzinfo) - timedelta(days=1)
    for offset in range(SEARCH_DAYS + 2):
        span = window(spec, first + timedelta(days=offset), defaults)
        if span is not None and span[1] > candidate:
            return max(candidate, span[0])
    return None


def in_window(spec: Spec, defaults: Defaults, now: float) -> bool:
    """Whether ``now`` is inside a capture window."""
    today = local_date(now, defaults.tzinfo)
    for day in (today - timedelta(days=1), today):
        span = window(spec, day, defaults)
        if span is not None and span[0] <= now < span[1]:
            return True
    return False


def end_date_time(spec: Spec, defaults: Defaults) -> float | None:
    """``end_date`` as epoch seconds: a date ends at the local midnight after it."""
    if spec.end_date is None:
        return None
    if len(spec.end_date) == 10:  # a date
        day = date.fromisoformat(spec.end_date) + timedelta(days=1)
        return _at(day, "00:00", defaults.tzinfo).timestamp()
    moment = datetime.fromisoformat(spec.end_date)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=defaults.tzinfo) if defaults.tzinfo else moment.astimezone()
    return moment.timestamp()


def end_reason(spec: Spec, defaults: Defaults, frames: int, started_at: float | None, now: float) -> str | None:
    """Why the timelapse is complete (``end_frames``, ``end_after``, ``end_date``), else None."""
    if spec.end_frames is not None and frames >= spec.end_frames:
        return "end_frames"
    if spec.end_after is not None and started_at is not None and now >= started_at + spec.end_after:
        return "end_after"
    until = end_date_time(spec, defaults)
    if until is not None and now >= until:
        return "end_date"
    return None


def end_time(spec: Spec, defaults: Defaults, started_at: float | None) -> float | None:
    """The earliest moment a time-based end condition is reached (None: none set)."""
    times = [end_date_time(spec, defaults)]
    if spec.end_after is not None and started_at is not None:
        times.append(started_at + spec.end_after)
    found = [t for t in times if t is not None]
    return min(found) if found else None


def next_daily(hhmm: str, now: float, tz: tzinfo | None) -> float:
    """The next local ``HH:MM`` strictly after ``now``."""
    day = local_date(now, tz)
    for offset in range(3):
        moment = _at(day + timedelta(days=offset), hhmm, tz).timestamp()
        if moment > now:
            return moment
    raise AssertionError("unreachable: a local time recurs within two days")
