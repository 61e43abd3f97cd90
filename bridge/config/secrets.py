"""Secrets of the configuration: registered with the process-wide redactor (so logs, MQTT and
the API mask them), and masked in the effective configuration that ``check-config`` prints."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from ..redact import MASK, REDACTOR, mask_url
from . import detect as _detect
from . import timelapse as _timelapse
from .mediamtx import URLS

if TYPE_CHECKING:
    from .root import Config

_URL_PASSWORD = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:([^/\s]*)@")


def register_password_of(url: str) -> None:
    """Register the password of a ``scheme://user:password@host`` URL as a secret."""
    match = _URL_PASSWORD.match(url)
    if match:
        REDACTOR.add(match.group(1))


def register_secrets(config: Config) -> None:
    """Register the config's secrets with the process-wide redactor (logs, MQTT, status)."""
    REDACTOR.add(config.mqtt.password)
    REDACTOR.add(config.api.jwt_secret)
    REDACTOR.add(config.mediamtx.password)
    for key in URLS:
        register_password_of(getattr(config.mediamtx, key))
    for cam in config.cameras.values():
        register_password_of(cam.source)
        for stream in cam.streams:
            register_password_of(stream.url)
    if config.cluster.dsn:
        register_password_of(config.cluster.dsn)


def masked(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data with every secret replaced by ``***``."""
    data = dataclasses.asdict(config)
    if data["mqtt"]["password"]:
        data["mqtt"]["password"] = MASK
    if data["api"]["jwt_secret"]:
        data["api"]["jwt_secret"] = MASK
    data["detect"] = _detect.as_data(config.detect)
    if data["mediamtx"]["password"]:
        data["mediamtx"]["password"] = MASK
    for key in URLS:
        data["mediamtx"][key] = mask_url(data["mediamtx"][key])
    for cam_id, cam in data["cameras"].items():
        del cam["id"]
        detect = config.cameras[cam_id].detect  # a camera without detection: just that
        cam["detect"] = _detect.as_data(detect) if detect.enabled else {"enabled": False}
        if cam["url"]:
            cam["url"] = mask_url(cam["url"])
        cam["streams"] = [{"url": mask_url(st["url"]), "roles": list(st["roles"])} for st in cam["streams"]]
    if data["cluster"]["dsn"]:
        data["cluster"]["dsn"] = mask_url(data["cluster"]["dsn"])
    _timelapse.plain_sections(config.timelapse, config.timelapses, data)
    return data
