"""The ``mqtt:`` section: the broker, topics and Home Assistant discovery."""

from __future__ import annotations

from dataclasses import dataclass

from .options import (
    REQUIRED,
    Section,
    Sections,
    boolean,
    integer,
    number,
    option,
    options_of,
    section_schema,
    string,
    text,
    topic,
)


@dataclass(frozen=True)
class MqttConfig:
    """``mqtt:`` section. Durations in seconds."""

    host: str = option(text(), REQUIRED, "Broker host name or address.")
    port: int = option(integer(1, 65535), 1883, "Broker TCP port.")
    username: str | None = option(string, None, "User name, if the broker needs one.")
    password: str | None = option(string, None, "Password (use `!env NAME`).", secret=True)
    client_id: str | None = option(string, None, "MQTT client id; default `camera-bridge-{base_topic}`.")
    keepalive: int = option(integer(5, 3600), 30, "Keepalive, seconds.")
    base_topic: str = option(topic, "camera_bridge", "Prefix of every bridge topic (`{base}`).")
    discovery: bool = option(boolean, True, "Publish Home Assistant MQTT discovery.")
    discovery_prefix: str = option(topic, "homeassistant", "Home Assistant discovery prefix.")
    ha_status_topic: str = option(
        topic, "homeassistant/status", "Home Assistant's birth topic; `online` there re-publishes discovery and state."
    )
    status_interval: float = option(
        number(1, 3600), 30.0, "Seconds between periodic re-publishes of camera status and bridge state."
    )


MQTT_OPTIONS = options_of(MqttConfig)
MQTT_SCHEMA = section_schema(MQTT_OPTIONS)
SECTIONS: Sections = {"": Section(MQTT_OPTIONS)}
