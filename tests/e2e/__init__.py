"""End-to-end tests: a real bridge against real peers (Mosquitto, the RTSP server, ffmpeg,
PostgreSQL, Chromium, Home Assistant core); the fixtures are in ``tests/conftest.py``, the peers in
``tests/peers.py``. Adapter unit tests without peers are in ``tests/unit/``."""
