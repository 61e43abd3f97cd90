"""The bridge's error family: one root (:class:`bridge.core.errors.BridgeError`, re-exported
here with its kinds), a subclass per kind of fault."""

from __future__ import annotations

from .core.errors import BridgeError, Conflict, Forbidden, Invalid, NotFound, Unavailable

__all__ = [
    "BridgeError",
    "CaptureError",
    "ConfigError",
    "Conflict",
    "DeviceError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "StallError",
    "Unavailable",
]


class ConfigError(Invalid):
    """Raised when the configuration is invalid.

    ``errors`` holds one ``"key.path: message"`` line per problem found, so every problem can be
    reported at once.
    """


class CaptureError(BridgeError):
    """Raised when a camera source cannot be opened or read.

    ``permanent`` is true when retrying cannot help (no video stream, unsupported codec).
    ``reason`` names why an open failed (a :class:`bridge.capture.failure.Reason` value such as
    ``host_not_found``), None for read failures.
    """

    def __init__(self, message: str, *, permanent: bool = False, reason: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.reason = reason


class StallError(CaptureError):
    """Raised when a camera delivered no packet for longer than its ``stall_timeout``."""


class DeviceError(BridgeError):
    """Raised when USB (V4L2) devices cannot be enumerated."""
