"""``POST /api/cameras/probe``: test a camera's connection before adding it.

The body is what ``POST /api/cameras`` takes; it is validated the same way (``400
invalid_config`` with ``errors``), nothing is added or stored. The bridge opens the source once
and answers what it sees: ``{"ok": true, "codec", "width", "height", "fps", "elapsed_s"}`` or
``{"ok": false, "error": "<why, credentials masked>", "elapsed_s"}``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from .errors import ApiError
from .keys import control_of

#: seconds added to a camera's ``open_timeout`` before a probe is given up
PROBE_GRACE = 2.0
#: seconds a probe takes at most, whatever the camera's ``open_timeout``
PROBE_LIMIT = 8.0
#: probes run at once (each holds a thread while the source opens)
PROBES_AT_ONCE = 2
PROBES: web.AppKey[asyncio.Semaphore] = web.AppKey("probes", asyncio.Semaphore)


def setup(app: web.Application) -> None:
    """Add the probe route."""
    app[PROBES] = asyncio.Semaphore(PROBES_AT_ONCE)
    app.router.add_post("/api/cameras/probe", probe, name="cameras.probe")


async def probe(request: web.Request) -> web.Response:
    """Validate the camera options of the body and open the source once (see module doc)."""
    try:
        body: Any = await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {err}") from None
    camera = await control_of(request).check_camera(body)
    started = time.monotonic()
    async with request.app[PROBES]:
        try:
            async with asyncio.timeout(min(camera.open_timeout + PROBE_GRACE, PROBE_LIMIT)):
                result = await control_of(request).probe_camera(camera)
        except TimeoutError:
            return _answer(
                started, ok=False, error=f"cannot open {camera.safe_source}: no answer in {camera.open_timeout:g} s"
            )
    return _answer(started, **result)


def _answer(started: float, **fields: Any) -> web.Response:
    return web.json_response({**fields, "elapsed_s": round(time.monotonic() - started, 3)})


__all__ = ["probe", "setup"]
