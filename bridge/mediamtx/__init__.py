"""MediaMTX control: an API v3 client behind a circuit breaker, a reconciler that keeps the
bridge's paths in MediaMTX, a generated ``mediamtx.yml``, and the service tying them together
(health, stream URLs, recording). See docs/mediamtx.md."""
