"""``GET /api/usb``: the USB capture devices the hot-plug monitor sees (and JSON-RPC
``usb.devices``), each with its stable camera id and the camera it feeds: ``{discovery,
devices}`` (sorted by node, each as in the ``usb.added`` event, ``camera`` its camera id or
null)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import rpc
from .keys import view_of


def setup(app: web.Application) -> None:
    """Add the route."""
    app.router.add_get("/api/usb", usb_devices, name="usb.devices")


async def usb_devices(request: web.Request) -> web.Response:
    """The devices (role viewer)."""
    return web.json_response(view_of(request).usb_devices())


@rpc.method("usb.devices", "The USB capture devices present, with their stable ids and cameras.")
async def _rpc_devices(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    return conn.view.usb_devices()
