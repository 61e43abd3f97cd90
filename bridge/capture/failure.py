"""Why a camera source did not open, in words a user can act on.

FFmpeg reports most network faults as bare errno texts (an unresolvable host is "Input/output
error", an RTSP server that never answers is "Invalid data found when processing input"). This is
the one place that turns them into a reason and a sentence; the camera's status, its log lines
and ``camera-bridge probe`` all show that sentence.
"""

from __future__ import annotations

import errno
import socket
from enum import StrEnum
from urllib.parse import urlsplit

import av.error

from ..redact import mask_url, redact

#: a failure after at least this share of the socket timeout counts as a timeout
TIMEOUT_SHARE = 0.9
#: default port per URL scheme, for the host:port named in messages
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


class Reason(StrEnum):
    """Why opening a source failed (``CaptureError.reason``)."""

    HOST_NOT_FOUND = "host_not_found"
    CONNECTION_REFUSED = "connection_refused"
    TIMEOUT = "timeout"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    UNSUPPORTED_CODEC = "unsupported_codec"
    NO_VIDEO = "no_video"
    OTHER = "other"


def _address(url: str) -> tuple[str | None, int | None]:
    """``(host, port)`` of a network URL, the scheme's default port filled in; Nones if none."""
    try:
        parts = urlsplit(url)
        return parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None, None


def _resolves(host: str) -> bool:
    """Whether ``host`` resolves to an address (blocking DNS lookup; capture threads only)."""
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return True


def _has_credentials(url: str) -> bool:
    try:
        return urlsplit(url).username is not None
    except ValueError:
        return False


def _errno_text(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)


def explain(err: BaseException, url: str, *, network: bool, elapsed: float, timeout: float) -> tuple[Reason, str]:
    """The reason and a sentence for ``err``, raised by ``av.open(url)`` after ``elapsed`` seconds
    with a socket timeout of ``timeout`` seconds. ``network``: ``url`` is an RTSP/HTTP URL (the
    sentence then names its host and port). Credentials in the sentence are masked. May do a DNS
    lookup (blocking)."""
    host, port = _address(url) if network else (None, None)
    where = f"{host}:{port}" if host and port else (host or mask_url(url))
    if isinstance(err, av.error.HTTPForbiddenError):
        return Reason.UNAUTHORIZED, "403 forbidden: this user may not open that stream"
    if isinstance(err, av.error.HTTPUnauthorizedError):
        if _has_credentials(url):
            return (
                Reason.UNAUTHORIZED,
                "401 wrong credentials: the camera refused the user name and password in the URL",
            )
        return Reason.UNAUTHORIZED, "401 credentials needed: add user:password@ to the URL"
    if isinstance(err, av.error.HTTPNotFoundError):
        path = urlsplit(url).path or "/"
        return Reason.NOT_FOUND, f"404 wrong path: {where} has no stream at {path!r}"
    if isinstance(err, ConnectionRefusedError):
        return Reason.CONNECTION_REFUSED, f"connection refused by {where} (camera off, or wrong port)"
    if network and host and isinstance(err, OSError) and err.errno == errno.EIO and not _resolves(host):
        return Reason.HOST_NOT_FOUND, f"host not found: {host!r} does not resolve (check the address)"
    timed_out = isinstance(err, TimeoutError | av.error.ExitError) or (
        isinstance(err, OSError) and err.errno == errno.ETIMEDOUT
    )
    if timed_out or (network and elapsed >= TIMEOUT_SHARE * timeout):
        return Reason.TIMEOUT, f"timeout: no answer from {where} in {timeout:g} s"
    return Reason.OTHER, redact(_errno_text(err))
