"""Health probes: ``/health/alive``, ``/health/ready`` and ``/health/cameras``.

``alive`` and ``ready`` are public (for systemd, Docker, Kubernetes, load balancers) and say
nothing about cameras: only the names of the checks and fixed messages. ``ready`` runs every
check of :data:`READY_CHECKS` (config loaded, MQTT connected, registry/state database open; a
clustered bridge also ``cluster``: its PostgreSQL database answers heartbeats) and
answers 503 with the failing ones. ``/health/cameras`` (authenticated like the rest of the API)
summarises the cameras' states.

Later parts add their own readiness check with :func:`add_ready_check` (e.g. ``mediamtx``) and
their own ``/health/<part>`` route named ``health.<part>`` in their route module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..redact import mask_url, redact
from ..status import CameraState
from .keys import view_of

if TYPE_CHECKING:
    from ..core.view import BridgeView

_LOGGER = logging.getLogger(__name__)

#: seconds one readiness check may take before it counts as failed
CHECK_TIMEOUT = 2.0
NO_STORE = {"Cache-Control": "no-store"}

#: a readiness check: ``(ok, message)``; the message must not name cameras, hosts or paths
Check = Callable[["BridgeView"], Awaitable[tuple[bool, str]]]


async def _config(view: BridgeView) -> tuple[bool, str]:
    return (True, "loaded") if view.config is not None else (False, "not loaded")


async def _mqtt(view: BridgeView) -> tuple[bool, str]:
    if view.mqtt_connected():
        return True, "connected to the broker"
    return False, "not connected to the broker"


async def _registry(view: BridgeView) -> tuple[bool, str]:
    if not view.registry_open():
        return False, "camera registry not open"
    if not await view.store_healthy():
        return False, "state database does not answer"
    return True, "open"


async def _cluster(view: BridgeView) -> tuple[bool, str]:
    state = view.cluster_state()
    if state is None or not state["connected"]:
        return False, "cluster database not reachable"
    return True, "cluster database reachable"


#: name -> check, run in this order by ``/health/ready``
READY_CHECKS: dict[str, Check] = {"config": _config, "mqtt": _mqtt, "registry": _registry}
#: checks of a clustered bridge only
CLUSTER_CHECKS: dict[str, Check] = {"cluster": _cluster}


def add_ready_check(name: str, check: Check) -> None:
    """Make ``/health/ready`` also require ``check`` (under ``name``)."""
    READY_CHECKS[name] = check


def setup(app: web.Application) -> None:
    """Add the health routes."""
    app.router.add_get("/health/alive", alive, name="health.alive")
    app.router.add_get("/health/ready", ready, name="health.ready")
    app.router.add_get("/health/cameras", cameras, name="health.cameras")


async def alive(request: web.Request) -> web.Response:
    """The process answers."""
    return web.json_response({"status": "ok"}, headers=NO_STORE)


async def _run_check(name: str, check: Check, view: BridgeView) -> dict[str, Any]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            ok, message = await check(view)
    except TimeoutError:
        ok, message = False, f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception:  # a broken check is a failed check, not a 500
        _LOGGER.exception("health: check %s failed", name)
        ok, message = False, "check failed (see the bridge log)"
    return {"ok": ok, "message": message}


async def ready(request: web.Request) -> web.Response:
    """200 ``{status: ok, checks}`` when every check passes, else 503 ``{status: unavailable,
    checks}``; each check ``{ok, message}``."""
    view = view_of(request)
    run = {**READY_CHECKS, **(CLUSTER_CHECKS if view.cluster_state() is not None else {})}
    names = list(run)
    results = await asyncio.gather(*(_run_check(n, run[n], view) for n in names))
    checks = dict(zip(names, results, strict=True))
    ok = all(result["ok"] for result in results)
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503, headers=NO_STORE
    )


async def cameras(request: web.Request) -> web.Response:
    """Per camera ``{state, last_frame_age_s, error}`` (credentials masked), and counts by state.
    ``status`` is ``ok`` when every camera streams (or is switched off: ``disabled``), else
    ``degraded``; always 200."""
    now = time.time()
    summary: dict[str, dict[str, Any]] = {}
    counts = {str(state): 0 for state in CameraState}
    from .auth import PRINCIPAL

    principal = request.get(PRINCIPAL)
    view = view_of(request)
    for cam_id in view.camera_ids():
        if principal is not None and not principal.sees(cam_id):
            continue  # a key limited to some cameras sees only those
        status = view.camera_status(cam_id)
        counts[str(status.state)] += 1
        age = None if status.last_frame_at is None else round(max(0.0, now - status.last_frame_at), 3)
        summary[cam_id] = {
            "state": str(status.state),
            "last_frame_age_s": age,
            "error": None if status.error is None else mask_url(redact(status.error)),
        }
    # a camera switched off on purpose is not a fault
    degraded = counts[str(CameraState.STREAMING)] + counts[str(CameraState.DISABLED)] < len(summary)
    return web.json_response(
        {"status": "degraded" if degraded else "ok", "total": len(summary), "counts": counts, "cameras": summary},
        headers=NO_STORE,
    )
