"""Camera Bridge: RTSP/USB cameras to JPEG snapshots and status on MQTT."""

__version__ = "0.1.0"
