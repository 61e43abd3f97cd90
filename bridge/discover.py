"""``camera-bridge discover``: the cameras this machine can reach (ONVIF on the local network, USB
capture devices), each with a camera id to add it under, and adding one to the configuration
file or to a running bridge through its API."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from . import onvif
from .errors import BridgeError, DeviceError
from .redact import mask_url

#: seconds the API registration may take
API_TIMEOUT = 15.0


class DiscoverError(BridgeError):
    """Raised when a found camera cannot be registered through the API (the message says why:
    connection refused, 401/403 key, 409 id taken, the bridge's own error text)."""


@dataclass
class FoundCamera:
    """One camera found: ``id`` (a slug to add it as), ``kind`` (``onvif`` or ``usb``), a
    ``name``; ONVIF: ``address`` (host:port), ``model``, ``streams`` (main first) or the
    ``error`` in words that kept them from being listed; USB: ``device`` (its node)."""

    id: str
    kind: str
    name: str
    address: str | None = None
    model: str | None = None
    device: str | None = None
    streams: list[onvif.Stream] = field(default_factory=list)
    error: str | None = None
    user: str | None = None
    password: str | None = None

    def url(self, stream: onvif.Stream) -> str:
        """``stream``'s RTSP URL with this camera's credentials in it."""
        return onvif.with_credentials(stream.uri, self.user, self.password)

    def camera(self) -> dict[str, Any]:
        """Its options for the configuration (``name`` and ``url`` of the main stream, or
        ``device``). Raises :class:`DiscoverError` when an ONVIF camera's streams are unknown."""
        if self.kind == "usb":
            return {"name": self.name, "device": self.device}
        if not self.streams:
            raise DiscoverError(
                f"camera {self.id}: its streams are unknown ({self.error or 'no profiles'}); give --user and --password"
            )
        return {"name": self.name, "url": self.url(self.streams[0])}

    def as_dict(self) -> dict[str, Any]:
        """Plain data with credentials masked (``--json``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "address": self.address,
            "model": self.model,
            "device": self.device,
            "error": self.error,
            "streams": [
                {
                    "role": _role(i, len(self.streams)),
                    "name": s.name,
                    "token": s.token,
                    "encoding": s.encoding,
                    "width": s.width,
                    "height": s.height,
                    "url": mask_url(self.url(s)),
                }
                for i, s in enumerate(self.streams)
            ],
        }


def _role(index: int, count: int) -> str:
    if index == 0:
        return "main"
    return "sub" if index == count - 1 else f"extra{index}"


def slug(text: str) -> str:
    """A camera id from ``text`` (``Porch Cam`` -> ``porch_cam``); ``camera`` when nothing is left."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "camera"


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def parse_host(text: str) -> tuple[str, int]:
    """``HOST`` or ``HOST:PORT`` (port 80 when not given) -> ``(host, port)``. Raises
    ``ValueError`` naming the text."""
    host, sep, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not sep:
        host, port = text, "80"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST or HOST:PORT, got {text!r}")
    return host, int(port)


def _only(devices: list[onvif.Device], hosts: list[tuple[str, int]]) -> list[onvif.Device]:
    """The devices at ``hosts`` (all when empty); a host that did not answer WS-Discovery is
    asked directly at its usual device service URL."""
    if not hosts:
        return devices
    kept = [d for d in devices if (d.host, d.port) in hosts]
    answered = {(d.host, d.port) for d in kept}
    kept += [
        onvif.Device("", (f"http://{host}:{port}/onvif/device_service",))
        for host, port in hosts
        if (host, port) not in answered
    ]
    return kept


async def _onvif(
    user: str | None, password: str | None, timeout: float, taken: set[str], hosts: list[tuple[str, int]]
) -> list[FoundCamera]:
    devices = _only(await asyncio.to_thread(onvif.search, timeout), hosts)
    found = []
    for device in devices:
        host, port = device.host or "", device.port
        name = device.name or device.hardware or host
        cam = FoundCamera(
            _unique(slug(name), taken),
            "onvif",
            name,
            f"{host}:{port}",
            model=device.hardware,
            user=user,
            password=password,
        )
        found.append(cam)

    async def fill(cam: FoundCamera) -> None:
        host, _, port = (cam.address or "").rpartition(":")
        try:
            info = await onvif.streams(host, int(port), user, password)
        except onvif.DiscoveryError as err:
            cam.error = str(err)
            return
        cam.streams = info.streams
        cam.model = " ".join(x for x in (info.manufacturer, info.model) if x) or cam.model

    if user:
        await asyncio.gather(*(fill(cam) for cam in found))
    return found


def _usb(taken: set[str]) -> list[FoundCamera]:
    from .capture.usb import list_devices

    try:
        devices = list_devices()
    except DeviceError:
        return []
    return [
        FoundCamera(
            _unique(slug(d.name) if d.name else slug(d.device.rsplit("/", 1)[-1]), taken),
            "usb",
            d.name or d.device,
            device=d.device,
        )
        for d in devices
    ]


async def find(
    user: str | None,
    password: str | None,
    timeout: float = onvif.SEARCH_TIMEOUT,
    usb: bool = True,
    hosts: list[tuple[str, int]] | None = None,
    with_onvif: bool = True,
) -> list[FoundCamera]:
    """ONVIF cameras answering WS-Discovery within ``timeout`` seconds (with ``user``: each
    one's streams, asked concurrently; none when ``with_onvif`` is false), then USB capture devices
    (unless ``usb`` is false).
    ``hosts`` (``(host, port)`` pairs): only the ONVIF devices there, asked directly when they
    do not answer WS-Discovery (multicast blocked between networks)."""
    taken: set[str] = set()
    found = await _onvif(user, password, timeout, taken, hosts or []) if with_onvif else []
    if usb:
        found += await asyncio.to_thread(_usb, taken)
    return found


def render(found: list[FoundCamera], user: str | None) -> str:
    """The listing ``camera-bridge discover`` prints (credentials masked)."""
    onvif_cams = [c for c in found if c.kind == "onvif"]
    usb_cams = [c for c in found if c.kind == "usb"]
    lines = [f"ONVIF cameras: {len(onvif_cams) or 'none found'}"]
    for cam in onvif_cams:
        lines.append(f"  {cam.id}: {cam.name}" + (f" ({cam.model})" if cam.model else "") + f" at {cam.address}")
        if cam.error:
            lines.append(f"      {cam.error}")
        elif not user:
            lines.append("      give --user and --password to list its streams")
        for i, stream in enumerate(cam.streams):
            size = f"{stream.width}x{stream.height}" if stream.width and stream.height else "size unknown"
            lines.append(
                f"      {_role(i, len(cam.streams)):5} {stream.name} {size} {stream.encoding or ''}  "
                f"{mask_url(cam.url(stream))}"
            )
    lines.append(f"USB cameras: {len(usb_cams) or 'none found'}")
    lines += [f"  {cam.id}: {cam.name} at {cam.device}" for cam in usb_cams]
    if found:
        lines.append(
            f"Add one: camera-bridge discover{' --user ' + user if user else ''} --add "
            f"{found[0].id} --config config.yaml   (or --api http://127.0.0.1:8765)"
        )
    return "\n".join(lines)


def _comment(cam: FoundCamera) -> str:
    what = f"ONVIF {cam.model or 'camera'} at {cam.address}" if cam.kind == "onvif" else f"USB {cam.device}"
    text = f"found by camera-bridge discover: {what}"
    if len(cam.streams) > 1:
        text += f"; sub stream: {mask_url(cam.url(cam.streams[-1]))}"
    return text


def add_to_config(path: str, cam_id: str, cam: FoundCamera) -> None:
    """Write ``cam`` as camera ``cam_id`` into the YAML file at ``path``, comments and layout
    kept (:func:`bridge.config_file.add_camera`). Raises :class:`ConfigError` or
    :class:`DiscoverError`."""
    from .config_file import add_camera

    add_camera(path, cam_id, cam.camera(), comment=_comment(cam))


async def add_to_api(base_url: str, key: str | None, cam_id: str, cam: FoundCamera) -> str:
    """Register ``cam`` as camera ``cam_id`` with the bridge at ``base_url`` (``POST
    /api/cameras``, admin ``key``); returns the new camera's location. Raises
    :class:`DiscoverError` with the bridge's error in words."""
    import aiohttp

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = base_url.rstrip("/") + "/api/cameras"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT)) as session,
            session.post(url, json={"id": cam_id, **cam.camera()}, headers=headers) as resp,
        ):
            body = await resp.json(content_type=None) if resp.content_length != 0 else {}
            if resp.status == 201:
                return resp.headers.get("Location", f"/api/cameras/{cam_id}")
            message = body.get("message") if isinstance(body, dict) else None
            errors = body.get("errors") if isinstance(body, dict) else None
            detail = "; ".join(map(str, errors)) if errors else (message or resp.reason)
            raise DiscoverError(f"{url} answered {resp.status}: {detail}")
    except aiohttp.ClientConnectorError as err:
        raise DiscoverError(f"cannot reach {url}: {err.os_error.strerror or err}") from None
    except (aiohttp.ClientError, TimeoutError, ValueError) as err:
        raise DiscoverError(f"{url}: {type(err).__name__}: {err}") from None
