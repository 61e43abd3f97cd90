"""Timelapse options: the global ``timelapse:`` section, per-camera ``cameras.<id>.timelapse:``
overrides and the ``timelapses:`` entities, validated into frozen dataclasses.

Render, quality and retention settings (:class:`Settings`) inherit global -> camera ->
timelapse: :func:`effective` gives each setting's value and where it came from (``timelapse``,
``camera``, ``global`` or ``default``).
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import voluptuous as vol

from ..errors import ConfigError
from .messages import explain_all
from .options import (
    REQUIRED,
    SLUG,
    Section,
    Sections,
    boolean,
    integer,
    matching,
    nest,
    number,
    option,
    optional,
    options_of,
    section_schema,
    validate_each,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
SUN_EVENTS = ("sunrise", "sunset")
#: the value of a timelapse setting
SettingValue = int | float | bool | str | None


def _hhmm(value: Any) -> str:
    value = vol.Coerce(str)(value).strip()
    if not _HHMM.match(value):
        raise vol.Invalid("expected a local time HH:MM (00:00-23:59)")
    return value


def _edge(value: Any) -> str:
    """A window edge: ``HH:MM`` (local time), ``sunrise`` or ``sunset``."""
    text = vol.Coerce(str)(value).strip().lower()
    if text in SUN_EVENTS:
        return text
    try:
        return _hhmm(text)
    except vol.Invalid:
        raise vol.Invalid("expected HH:MM (local time), sunrise or sunset") from None


def _days(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise vol.Invalid(f"expected a list of days ({', '.join(DAYS)})")
    days = {str(d).strip().lower()[:3] for d in items}
    unknown = sorted(days - set(DAYS))
    if unknown:
        raise vol.Invalid(f"unknown day(s) {', '.join(unknown)}; expected {', '.join(DAYS)}")
    return tuple(d for d in DAYS if d in days)


def _end_date(value: Any) -> str:
    """A date (``2026-12-31``: captures end after that local day) or a local date-time."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    text = vol.Coerce(str)(value).strip()
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise vol.Invalid("expected an ISO date (2026-12-31) or date-time (2026-12-31T18:00)") from None
    return text


def _timezone(value: Any) -> str:
    text = vol.Coerce(str)(value)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise vol.Invalid(f"unknown time zone {text!r} (expected an IANA name such as Europe/Berlin)") from None
    return text


@dataclass(frozen=True)
class Settings:
    """Effective render/quality/retention settings (seconds, pixels, CRF 0-51, score 0-1); they
    inherit global -> camera -> timelapse (the defaults here are the global ones)."""

    interval: float = option(number(1, 86400), 60.0, "Seconds between frames.")
    fps: int = option(integer(1, 120), 25, "Frames per second of the rendered video.")
    width: int | None = option(
        optional(integer(16, 7680)), None, "Video width in pixels (aspect kept, made even); `null` = the frames' width."
    )
    crf: int = option(integer(0, 51), 23, "H.264 quality (CRF): lower is better and bigger, 23 is ffmpeg's default.")
    timestamp: bool = option(boolean, True, "Draw each frame's capture time (local) on the video.")
    jpeg_quality: int = option(integer(1, 100), 90, "JPEG quality of stored frames.")
    min_score: float = option(number(0, 1), 0.5, "Frames whose quality score (0-1) is below this are discarded.")
    degraded_after: int = option(
        integer(1, 10000), 5, "Consecutive discarded frames that put the timelapse in `degraded`."
    )
    keep_days: int | None = option(
        optional(integer(1, 36500)), None, "Delete frames older than this many days; `null` keeps them."
    )
    delete_frames_after_render: bool = option(boolean, False, "Delete the frames a successful render used.")
    keep_videos: int | None = option(
        optional(integer(1, 10000)), None, "Keep only the newest this many videos per timelapse; `null` keeps all."
    )
    render_at: str | None = option(optional(_hhmm), None, "Render every day at this local time (HH:MM).")
    render_on_complete: bool = option(boolean, True, "Render when the timelapse completes.")


@dataclass(frozen=True)
class Defaults:
    """The global ``timelapse:`` section: location/time zone, disk guard, and the setting
    defaults; ``explicit`` names the settings the YAML set (the rest are built-in defaults)."""

    latitude: float | None = option(
        optional(number(-90, 90)), None, "Latitude in degrees (north positive), for sunrise/sunset windows."
    )
    longitude: float | None = option(
        optional(number(-180, 180)), None, "Longitude in degrees (east positive), for sunrise/sunset windows."
    )
    timezone: str | None = option(
        optional(_timezone), None, "IANA time zone of windows and `render_at`; `null` = the system's local time."
    )
    min_free_mb: int = option(
        integer(0, 10_000_000),
        500,
        "Capture pauses (state `error`) while the data directory has less free space (MiB).",
    )
    storage: str | None = option(
        optional(vol.All(vol.Coerce(str), vol.Length(min=1, max=4096))),
        None,
        "Directory of the timelapse frames and videos; `null` = `{data_dir}/timelapses`. In cluster mode a "
        "path every bridge mounts (NFS, SMB) lets any bridge render all frames. Applied at the next start.",
    )
    settings: Settings = field(default_factory=Settings)
    explicit: frozenset[str] = frozenset()

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo | None:
        """The configured zone, None for the system's local time."""
        return zoneinfo.ZoneInfo(self.timezone) if self.timezone else None


@dataclass(frozen=True)
class Spec:
    """One timelapse as defined (YAML or API); ``overrides`` holds only the settings it sets."""

    id: str
    camera: str = option(matching(SLUG.pattern, "expected a camera id"), REQUIRED, "Id of the camera to capture.")
    name: str | None = option(
        optional(vol.All(vol.Coerce(str), vol.Length(min=1, max=100))),
        None,
        "Display name; default: the id made readable.",
    )
    window_start: str | None = option(
        optional(_edge), None, "Capture from this local time (HH:MM), or `sunrise`/`sunset`; `null` = all day."
    )
    window_end: str | None = option(
        optional(_edge),
        None,
        "Capture until this local time (HH:MM), or `sunrise`/`sunset` (past midnight if earlier).",
    )
    start_offset: float = option(
        number(-43200, 43200), 0.0, "Seconds added to `window_start` (e.g. -1800: half an hour before sunrise)."
    )
    end_offset: float = option(number(-43200, 43200), 0.0, "Seconds added to `window_end`.")
    days: tuple[str, ...] = option(
        optional(_days),
        None,
        "Days of the week to capture on (mon ... sun), by the window's start; `null` = every day.",
        built=lambda: DAYS,
    )
    end_date: str | None = option(
        optional(_end_date), None, "Complete after this local date (2026-12-31) or date-time (2026-12-31T18:00)."
    )
    end_frames: int | None = option(optional(integer(1, 10_000_000)), None, "Complete after this many kept frames.")
    end_after: float | None = option(
        optional(number(1, 10 * 365 * 86400)), None, "Complete this many seconds after the first start."
    )
    autostart: bool = option(boolean, True, "Start capturing at once (else it waits in `created`).")
    overrides: dict[str, SettingValue] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.name or self.id.replace("_", " ").capitalize()

    @property
    def uses_sun(self) -> bool:
        return self.window_start in SUN_EVENTS or self.window_end in SUN_EVENTS


#: settings that inherit global -> camera -> timelapse (defaults are the global ones)
SETTINGS_OPTIONS = options_of(Settings)
#: global-only options of the ``timelapse:`` section
GLOBAL_OPTIONS = options_of(Defaults)
#: options of one ``timelapses.<id>`` entity (besides the inherited settings)
TIMELAPSE_OPTIONS = options_of(Spec)
SETTING_KEYS = tuple(o.key for o in SETTINGS_OPTIONS)

#: the settings as a camera or a timelapse overrides them: ``null`` = inherit
_OVERRIDE_SETTINGS = tuple(dataclasses.replace(o, validator=optional(o.validator)) for o in SETTINGS_OPTIONS)
#: the ``timelapse:`` section and a camera's ``timelapse:`` overrides
SECTIONS: Sections = {"": Section(GLOBAL_OPTIONS + SETTINGS_OPTIONS)}
CAMERA_SECTIONS: Sections = {"": Section(_OVERRIDE_SETTINGS)}
#: the ``timelapses:`` mapping
TIMELAPSES_SECTIONS: Sections = {"<id>": Section(TIMELAPSE_OPTIONS + _OVERRIDE_SETTINGS)}


_OVERRIDES_SCHEMA = vol.Schema({vol.Optional(o.key): o.validator for o in _OVERRIDE_SETTINGS})
_GLOBAL_SCHEMA = section_schema(GLOBAL_OPTIONS + SETTINGS_OPTIONS)
_SPEC_SCHEMA = section_schema(TIMELAPSE_OPTIONS).extend(_OVERRIDES_SCHEMA.schema)


def validate_defaults(value: Any) -> Defaults:
    """Validate the ``timelapse:`` section (voluptuous validator)."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping")
    valid = _GLOBAL_SCHEMA(value)
    settings = Settings(**{k: valid.pop(k) for k in SETTING_KEYS})
    return Defaults(settings=settings, explicit=frozenset(k for k in value if k in SETTING_KEYS), **valid)


def validate_overrides(value: Any) -> dict[str, SettingValue]:
    """Validate ``cameras.<id>.timelapse:``: settings only, ``null`` = inherit (dropped)."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping")
    return {k: v for k, v in _OVERRIDES_SCHEMA(value).items() if v is not None}


def validate_spec(tl_id: str, value: Any) -> Spec:
    """Validate one timelapse body into a :class:`Spec` (paths relative to it)."""
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping")
    valid = _SPEC_SCHEMA(value)
    valid["days"] = valid["days"] or DAYS
    overrides = {k: valid.pop(k) for k in SETTING_KEYS if k in valid}
    return Spec(id=tl_id, overrides={k: v for k, v in overrides.items() if v is not None}, **valid)


def validate_timelapses(value: Any) -> dict[str, Spec]:
    """Validate the ``timelapses:`` mapping (ids are slugs), collecting every error."""
    return validate_each({} if value is None else value, "timelapse", validate_spec)


def reference_errors(spec: Spec, cameras: Any, defaults: Defaults, path: str) -> list[str]:
    """Cross-checks as ``key.path: message`` lines: the camera exists, a sun window has a
    location. ``cameras`` is any container of camera ids."""
    errors = []
    if spec.camera not in cameras:
        errors.append(f"{path}.camera: no camera {spec.camera!r}")
    if spec.uses_sun and (defaults.latitude is None or defaults.longitude is None):
        key = "window_start" if spec.window_start in SUN_EVENTS else "window_end"
        errors.append(f"{path}.{key}: sunrise/sunset needs timelapse.latitude and timelapse.longitude")
    return errors


def check_references(valid: dict[str, Any]) -> list[str]:
    """Cross-checks of a validated configuration (see :func:`reference_errors`)."""
    errors: list[str] = []
    for tl_id, spec in valid.get("timelapses", {}).items():
        errors += reference_errors(spec, valid["cameras"], valid["timelapse"], f"timelapses.{tl_id}")
    return errors


def spec_from_data(tl_id: str, data: Any) -> Spec:
    """Validate an API body as a timelapse (paths ``timelapses.<id>.<key>``). Raises
    :class:`ConfigError`."""
    if not isinstance(tl_id, str) or not SLUG.match(tl_id):
        raise ConfigError([f"timelapses.{tl_id}: invalid timelapse id, expected a slug [a-z0-9_]+"])
    try:
        return validate_spec(tl_id, data)
    except vol.Invalid as err:
        sections = nest("timelapses", TIMELAPSES_SECTIONS)
        raise ConfigError(explain_all(err, data, sections, ["timelapses", tl_id])) from err


def spec_data(spec: Spec) -> dict[str, Any]:
    """A spec as plain data (what the store keeps), without its id; overrides flattened."""
    data = dataclasses.asdict(spec)
    del data["id"]
    data["days"] = list(spec.days)
    data.update(data.pop("overrides"))
    return data


def effective(
    spec: Spec, camera_overrides: dict[str, SettingValue], defaults: Defaults
) -> tuple[Settings, dict[str, str]]:
    """The settings a timelapse runs with and where each came from: ``timelapse`` (its own
    value), ``camera`` (``cameras.<id>.timelapse``), ``global`` (set in ``timelapse:``) or
    ``default`` (built in)."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in SETTING_KEYS:
        if key in spec.overrides:
            values[key], sources[key] = spec.overrides[key], "timelapse"
        elif key in camera_overrides:
            values[key], sources[key] = camera_overrides[key], "camera"
        else:
            values[key] = getattr(defaults.settings, key)
            sources[key] = "global" if key in defaults.explicit else "default"
    return Settings(**values), sources


def plain_sections(defaults: Defaults, timelapses: dict[str, Spec], data: dict[str, Any]) -> None:
    """Turn the timelapse parts of ``dataclasses.asdict(config)`` (``data``) into plain
    YAML-able data; sections left empty (no timelapse configured) are dropped, as are empty
    camera overrides."""
    for cam in data["cameras"].values():
        if not cam.get("timelapse"):
            cam.pop("timelapse", None)
    if not timelapses and not defaults.explicit and defaults == Defaults():
        data.pop("timelapse", None)
        data.pop("timelapses", None)
        return
    data["timelapse"] = {
        "latitude": defaults.latitude,
        "longitude": defaults.longitude,
        "timezone": defaults.timezone,
        "min_free_mb": defaults.min_free_mb,
        "storage": defaults.storage,
        **dataclasses.asdict(defaults.settings),
    }
    data["timelapses"] = {tl_id: spec_data(spec) for tl_id, spec in timelapses.items()}
