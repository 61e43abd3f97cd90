"""Masking stays linear in its input: adversarial 1 MiB texts are masked within a time bound
(the old URL-credential pattern took minutes on 100 KB), with the same result as before."""

from __future__ import annotations

import re
import time

import pytest

from bridge.mediamtx.paths import duration_seconds
from bridge.redact import _URL_CREDENTIALS, REDACTOR, mask_url

MIB = 1024 * 1024

#: the pattern before issue 12 (quadratic), kept as the reference for what must be masked
_OLD_URL_CREDENTIALS = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^/\s]*)@")

ADVERSARIAL = {
    "letters": "a" * MIB,
    "scheme characters": "a1+.-" * (MIB // 5),
    "digits then a scheme separator": "1" * MIB + "a:/",
    "schemes": "a://" * (MIB // 4),
    "colons after a scheme": "x://" + ":" * MIB,
    "users and colons": "x://" + "a:" * (MIB // 2),
    "repeated user parts": "a://b:" * (MIB // 6),
    "at signs": "x://:" + "@" * MIB,
    "password without host": "x://u:" + "p" * MIB,
    "query secret of colons": "?password=" + ":" * MIB,
    "repeated query secrets": "?pass=:" * (MIB // 7),
    "empty query secrets": "&token=" * (MIB // 7),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_masking_1_mib_of_adversarial_text_is_bounded(name):
    text = ADVERSARIAL[name]
    REDACTOR.add("s3cret-value")
    start = time.perf_counter()
    REDACTOR.redact(text)
    assert time.perf_counter() - start < 1.0


def test_masking_is_unchanged_on_ordinary_text():
    cases = ["rtsp://admin:p@ss:w0rd@10.0.0.2:554/s1", "x 1http://u:p@h/ y", "-a://u:p@h",
             "rtsp://cam/a?b=c", "mailto:x@y", "a://:@", "see http://u:p@h and rtsps://v:q@i:1/"]
    for text in cases:
        def mask(m):
            return f"{m.group('head')}***@"
        assert _URL_CREDENTIALS.sub(mask, text) == _OLD_URL_CREDENTIALS.sub(mask, text), text
    assert mask_url("x 1http://u:p@h/ y") == "x 1http://u:***@h/ y"


def test_duration_parsing_bounds_its_input():
    start = time.perf_counter()
    assert duration_seconds("1" * MIB) is None
    assert duration_seconds("1" * 50_000 + "x") is None
    assert time.perf_counter() - start < 1.0
    assert duration_seconds("1h0m0s") == 3600
