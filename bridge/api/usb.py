"""``GET /api/usb``: the USB capture devices the hot-plug monitor sees (and JSON-RPC
``usb.devices``), each with its stable camera id and the camera it feeds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import rpc

if TYPE_CHECKING:
    from ..app import Bridge


def setup(app: web.Application) -> None:
    """Add the route."""
    app.router.add_get("/api/usb", usb_devices, name="usb.devices")


def devices_view(bridge: Bridge) -> dict[str, Any]:
    """``{discovery, devices}``: the discovery mode and, sorted by node, every present device as
    in the ``usb.added`` event (``camera``: its camera id, or null)."""
    monitor = bridge.usb
    if monitor is None:
        return {"discovery": "off", "devices": []}
    devices = [{**dev.as_event(), "camera": monitor.camera_of(dev)}
               for dev in sorted(monitor.present.values(), key=lambda d: d.node)]
    return {"discovery": monitor.cfg.discovery, "devices": devices}


async def usb_devices(request: web.Request) -> web.Response:
    """The devices (role viewer)."""
    from .server import BRIDGE

    return web.json_response(devices_view(request.app[BRIDGE]))


@rpc.method("usb.devices", "The USB capture devices present, with their stable ids and cameras.")
async def _rpc_devices(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    return devices_view(conn.bridge)
