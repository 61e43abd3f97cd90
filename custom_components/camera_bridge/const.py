"""Constants of the Camera Bridge integration."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

DOMAIN: Final = "camera_bridge"
MANUFACTURER: Final = "Camera Bridge"

CONF_API_KEY: Final = "api_key"
CONF_SSL: Final = "ssl"
CONF_VERIFY_SSL: Final = "verify_ssl"
CONF_BRIDGE_ID: Final = "bridge_id"
#: option: what the camera entities' live view uses: ``rtsp`` (the bridge's restream, when it
#: has one; HA's stream/WebRTC) or ``snapshots`` (still images only)
CONF_LIVE_VIEW: Final = "live_view"
LIVE_VIEW_RTSP: Final = "rtsp"
LIVE_VIEW_SNAPSHOTS: Final = "snapshots"
#: option: width in pixels of camera stills when the frontend asks for none (0 = full size)
CONF_STILL_WIDTH: Final = "still_width"

DEFAULT_PORT: Final = 8765
#: polling interval while the push channel (WebSocket) is down
POLL_INTERVAL: Final = timedelta(seconds=15)
#: full reload interval while the push channel is up: states are pushed, but the statistics
#: (frame rate, last frame, MediaMTX readers) change without an event
STATS_INTERVAL: Final = timedelta(seconds=60)
#: longest wait (seconds) between reconnection attempts of the push channel
PUSH_RETRY_MAX: Final = 30.0

#: Home Assistant bus event fired for every bridge event that is not a camera status change
#: (detection, timelapse, ...): ``{"bridge_id", "event": bridge event type, ...the event's data}``
EVENT_BRIDGE: Final = f"{DOMAIN}_event"

#: seconds the signed links of a detection event's snapshot and clip (``snapshot_url``,
#: ``clip_url`` of ``camera_bridge_event`` and the event entities) stay valid: a notification
#: read the next day still shows its picture
LINK_TTL: Final = 86400

#: the repair issue raised when the bridge also publishes MQTT discovery
ISSUE_MQTT_DUPLICATES: Final = "mqtt_discovery_duplicates"

KIND_MODELS: Final = {
    "rtsp": "RTSP camera",
    "http": "HTTP camera",
    "usb": "USB camera",
    "file": "File source",
    "lavfi": "Synthetic source",
}
