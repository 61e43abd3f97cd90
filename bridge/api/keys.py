"""What every route module reads from the aiohttp application: the bridge's two ports (its
view and its control), the API options, and the set of open streaming responses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from ..config import ApiConfig
from ..core.control import BridgeControl
from ..core.view import BridgeView

VIEW: web.AppKey[BridgeView] = web.AppKey("view")
CONTROL: web.AppKey[BridgeControl] = web.AppKey("control")
CONFIG: web.AppKey[ApiConfig] = web.AppKey("api_config")
#: tasks of open streaming responses (SSE, MJPEG), cancelled at shutdown so they never hold it up
STREAMS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("streams")


def view_of(request: web.Request) -> BridgeView:
    """The bridge's read-only port."""
    return request.app[VIEW]


def control_of(request: web.Request) -> BridgeControl:
    """The bridge's command port."""
    return request.app[CONTROL]


@contextlib.contextmanager
def tracked_stream(request: web.Request) -> Iterator[None]:
    """Register the current handler as a long-lived stream, cancelled when the server stops."""
    task = asyncio.current_task()
    assert task is not None
    streams = request.app[STREAMS]
    streams.add(task)
    try:
        yield
    finally:
        streams.discard(task)
