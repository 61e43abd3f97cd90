"""Masking of secrets (URL credentials, passwords, tokens) in text bound for logs and MQTT."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, unquote

MASK = "***"

# scheme://user:password@  ->  scheme://user:***@   (password is anything up to the last '@'
# before the host part, so '@' inside a password is masked too).
# Linear in the text: a match may only start where a run of scheme characters starts (the
# look-behind), the scheme and user parts never backtrack (possessive), and only the password
# part backtracks, over its own authority segment, once per "://" (segments end at '/').
_URL_CREDENTIALS = re.compile(
    r"(?<![a-zA-Z0-9+.-])(?P<head>[0-9+.-]*+[a-zA-Z][a-zA-Z0-9+.-]*+://[^/\s:@]*+:)(?P<pw>[^/\s]*)@"
)


# ?password=x / &token=x / &pwd=x ... query parameters some cameras take credentials in
# (linear: a match starts only at '?' or '&', and the value's backtracking stays in its parameter)
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:pass|password|passwd|pwd|token|access_token|auth|key|secret)=)(?P<value>[^&\s#]*[^&\s#:])",
    re.IGNORECASE,
)


def mask_url(text: str) -> str:
    """Return ``text`` with the password of every ``scheme://user:pass@`` URL, and secret query
    parameters (``password=``, ``token=``, ``pwd=``, ...), replaced by ``***``.

    Works on any text (exception messages, log lines), not only on bare URLs.
    """
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('head')}{MASK}", text)


class Redactor:
    """Process-wide registry of secret strings, masked wherever text leaves the bridge.

    Secrets are registered once from the validated configuration (camera URL passwords, MQTT
    password); ``redact`` masks URL credentials and every registered secret, in its raw and
    percent-encoded forms. Thread-safe: capture threads call it too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, secret: str | None) -> None:
        """Register ``secret`` (ignored when empty or shorter than 3 characters)."""
        if not secret or len(secret) < 3:
            return
        forms = {secret, quote(secret, safe=""), unquote(secret)}
        with self._lock:
            # longest first, so a secret containing another is masked whole
            self._secrets = tuple(sorted(set(self._secrets) | forms, key=len, reverse=True))

    def clear(self) -> None:
        """Forget every registered secret (tests)."""
        with self._lock:
            self._secrets = ()

    def redact(self, text: str) -> str:
        """Return ``text`` with URL credentials and registered secrets replaced by ``***``."""
        text = mask_url(text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


REDACTOR = Redactor()


def redact(text: object) -> str:
    """Shortcut for ``REDACTOR.redact(str(text))``."""
    return REDACTOR.redact(str(text))


class RedactingFilter(logging.Filter):
    """Logging filter that renders each record's message and masks secrets in it.

    Installed on the bridge's log handlers, so third-party libraries' lines are masked too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = REDACTOR.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = REDACTOR.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True
