"""The bridge's error family: one root and the kinds an adapter knows how to answer.

No transport code here: ``bridge/api/errors.py`` maps each kind once to an HTTP status, a
JSON-RPC code and an error string, and the MQTT handlers log them. A part raises the most
specific kind that applies (a subclass of its own, e.g. ``registry.UnknownCamera(NotFound)``)
and attaches context as attributes.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""


class NotFound(BridgeError):
    """Raised when the thing named (camera, timelapse, frame, video, subscription) does not
    exist."""


class Conflict(BridgeError):
    """Raised when a request does not apply to the current state: the id exists, the thing is
    defined in YAML (read-only), the action does not apply now, or a feature is switched off in
    the configuration."""


class Invalid(BridgeError):
    """Raised when options do not validate. ``errors`` holds every problem found, one
    ``"key.path: message"`` line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class Unavailable(BridgeError):
    """Raised when something needed does not answer or is not there yet (the state store,
    MediaMTX, a part still starting, a camera's first snapshot)."""


class Forbidden(BridgeError):
    """Raised when the caller may not do what it asked."""


# -- specific kinds the adapters answer with their own error string ----------------------------


class NoSnapshot(Unavailable):
    """Raised when a camera has no snapshot yet; ``state`` is the camera's state (e.g.
    ``connecting``)."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


class StaleSnapshot(Unavailable):
    """Raised when a camera's latest snapshot is older than the caller accepts (``max_age``):
    ``age`` seconds since its frame was captured (rounded to 0.1), ``taken_at`` that capture
    time (ISO 8601 UTC), ``state`` the camera's state."""

    def __init__(self, message: str, age: float, taken_at: str, state: str) -> None:
        super().__init__(message)
        self.age = age
        self.taken_at = taken_at
        self.state = state


class NotSaved(Unavailable):
    """Raised when a switch could not be saved in the state store (nothing changed then)."""


class NotRunning(Unavailable):
    """Raised when the part a request needs has not started (yet)."""


class MediamtxDisabled(Conflict):
    """Raised when a MediaMTX feature (recording, recordings) is asked for while
    ``mediamtx.enabled`` is false."""


class MediamtxDown(Unavailable):
    """Raised when MediaMTX does not answer (its API failed, or the circuit breaker is open)."""
