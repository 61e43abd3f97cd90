"""``GET /api/events``: Server-Sent Events from the bridge's event bus, resumable with
``Last-Event-ID`` from a bounded buffer."""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from ..core.events import Envelope, EventSubscription
from .budget import write
from .keys import tracked_stream, view_of

KEEPALIVE = 15.0  #: seconds between SSE comment lines on a quiet stream
GONE_CHECK = 1.0  #: seconds between checks whether the client of a quiet stream left


def setup(app: web.Application) -> None:
    app.router.add_get("/api/events", events, name="events")


def _format(event: Envelope) -> bytes:
    payload = json.dumps({"type": event.type, "time": event.time, **event.data})
    return f"id: {event.id}\nevent: {event.type}\ndata: {payload}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    """Stream events; ``?types=camera.status,camera.removed`` filters. A resume whose events are
    no longer buffered starts with an ``event: reset``."""
    bus = view_of(request).events
    types = [t for t in request.query.get("types", "").split(",") if t] or None
    last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    sub = bus.subscribe(types)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        if last is not None and last.isascii() and last.isdigit() and len(last) <= 18:
            missed, complete = bus.since(int(last), types)
            if not complete:
                await response.write(f'event: reset\ndata: {{"last_event_id": {last}}}\n\n'.encode())
            for event in missed:
                if _visible(request, event):
                    await response.write(_format(event))
            seen = missed[-1].id if missed else (int(last) if complete else bus.last_id)
        else:
            seen = bus.last_id
        with tracked_stream(request), contextlib.suppress(asyncio.CancelledError):
            await _stream(request, response, sub, seen)
    except ConnectionResetError:  # the client went away: the normal end of a stream
        pass
    finally:
        bus.unsubscribe(sub)
    return response


async def _stream(request: web.Request, response: web.StreamResponse, sub: EventSubscription, seen: int) -> None:
    """Write events newer than ``seen`` as they come, with keepalive comments; until cancelled
    (server shutdown) or the client leaves or stops reading (ConnectionResetError)."""
    quiet = 0.0
    while True:
        try:
            async with asyncio.timeout(GONE_CHECK):
                event = await sub.queue.get()
        except TimeoutError:
            transport = request.transport
            if transport is None or transport.is_closing():  # the client left: free its slot now
                raise ConnectionResetError("the client closed the stream") from None
            quiet += GONE_CHECK
            if quiet >= KEEPALIVE:
                quiet = 0.0
                await write(request, response, b": keepalive\n\n")
            continue
        quiet = 0.0
        if event.id > seen:
            if _visible(request, event):
                await write(request, response, _format(event))
            seen = event.id


def _visible(request: web.Request, event: Envelope) -> bool:
    """Whether the caller may see ``event``: an event about a camera a key limited to some
    cameras may not see is left out."""
    from .auth import PRINCIPAL

    principal = request.get(PRINCIPAL)
    camera = event.data.get("camera") if isinstance(event.data, dict) else None
    return principal is None or not isinstance(camera, str) or principal.sees(camera)


__all__ = ["events", "setup"]
