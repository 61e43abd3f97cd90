"""Client for the Camera Bridge HTTP and WebSocket (JSON-RPC 2.0) API; no Home Assistant imports.

The aiohttp session is injected (Home Assistant's shared one in the integration). Every fault is
a :class:`CameraBridgeApiError`: :class:`CameraBridgeConnectionError` (unreachable, timeout,
5xx), :class:`CameraBridgeAuthError` (401/403: wrong key or role too low),
:class:`CameraBridgeNotFoundError` (404), :class:`CameraBridgeResponseError` (any other refusal).
Reference of the API: docs/api.md of the bridge.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from .models import SUBSCRIBED, BridgeEvent, BridgeInfo, Camera, Timelapse

__all__ = [
    "SUBSCRIBED",
    "BridgeEvent",
    "BridgeInfo",
    "Camera",
    "CameraBridgeApiError",
    "CameraBridgeAuthError",
    "CameraBridgeClient",
    "CameraBridgeConnectionError",
    "CameraBridgeNotFoundError",
    "CameraBridgeResponseError",
    "Timelapse",
]

_T = TypeVar("_T")

#: seconds for one REST request (a snapshot included)
REQUEST_TIMEOUT = 10.0
#: seconds between WebSocket pings; a bridge that does not answer two is taken as gone
WS_HEARTBEAT = 30.0


class CameraBridgeApiError(Exception):
    """Raised for every fault talking to a bridge (root of this module's errors)."""


class CameraBridgeConnectionError(CameraBridgeApiError):
    """Raised when the bridge cannot be reached, does not answer in time, or fails (5xx)."""


class CameraBridgeAuthError(CameraBridgeApiError):
    """Raised when the bridge refuses the API key (401) or its role is too low (403)."""


class CameraBridgeNotFoundError(CameraBridgeApiError):
    """Raised when the camera (or other object) asked for does not exist (404)."""


class CameraBridgeResponseError(CameraBridgeApiError):
    """Raised when the bridge refuses a request for another reason; ``status`` and ``code``
    (the API's ``error`` field, e.g. ``no_snapshot``) say why."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class CameraBridgeClient:
    """One bridge at ``host``:``port`` (``ssl`` for https/wss behind a TLS proxy), with an
    optional API key (sent as ``Authorization: Bearer``)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        port: int,
        api_key: str | None = None,
        *,
        ssl: bool = False,
        verify_ssl: bool = True,
    ) -> None:
        self._session = session
        self._base = f"{'https' if ssl else 'http'}://{_host(host)}:{port}"
        self._ws_url = f"{'wss' if ssl else 'ws'}://{_host(host)}:{port}/ws"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._ssl = verify_ssl  # aiohttp: True verifies, False does not (None is deprecated)

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` (no credentials in it)."""
        return self._base

    async def _exchange(
        self,
        method: str,
        path: str,
        read: Callable[[aiohttp.ClientResponse], Awaitable[_T]],
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        accept: tuple[int, ...] = (),
    ) -> _T:
        """One request; ``read(resp)`` makes the answer of a status below 400 (or in ``accept``)
        what the caller gets. Raises this module's errors (an answer ``read`` cannot make sense
        of, ValueError: CameraBridgeConnectionError)."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                async with self._session.request(
                    method, self._base + path, json=json_body, params=params, headers=self._headers, ssl=self._ssl
                ) as resp:
                    if resp.status >= 400 and resp.status not in accept:
                        await _raise_for(resp)
                    return await read(resp)
        except TimeoutError as err:
            raise CameraBridgeConnectionError(f"{method} {path}: no answer within {REQUEST_TIMEOUT:g} s") from err
        except (aiohttp.ClientError, ValueError) as err:  # ValueError: a body that is not a JSON object
            raise CameraBridgeConnectionError(f"{method} {path}: {err}") from err

    async def _json(
        self, method: str, path: str, *, json_body: Any = None, accept: tuple[int, ...] = ()
    ) -> dict[str, Any]:
        """The JSON object the bridge answers (``{}`` for 204 No Content)."""
        return await self._exchange(method, path, _json_object, json_body=json_body, accept=accept)

    async def _bytes(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        """The body of ``GET path``."""
        return await self._exchange("GET", path, _body, params=params)

    async def bridge(self) -> BridgeInfo:
        """The bridge's id, version, uptime and discovery settings."""
        return BridgeInfo.from_dict(await self._json("GET", "/api/bridge"))

    async def cameras(self) -> list[Camera]:
        """Every camera with its status."""
        body = await self._json("GET", "/api/cameras")
        return [Camera.from_dict(cam) for cam in body["cameras"]]

    async def snapshot(self, camera_id: str, width: int | None = None) -> bytes:
        """The camera's latest JPEG (``width``: downscale to this many pixels, 16-7680).
        Raises CameraBridgeResponseError with code ``no_snapshot`` when there is none yet."""
        params = {"width": width} if width else None
        return await self._bytes(f"/api/cameras/{camera_id}/snapshot.jpg", params)

    async def snapshot_version(self, camera_id: str) -> str | None:
        """What names the camera's latest snapshot (its ETag, a content hash, and Last-Modified,
        when it was taken: a new snapshot of an unchanged scene has the same ETag); None while
        there is none yet."""
        try:
            headers = await self._exchange("HEAD", f"/api/cameras/{camera_id}/snapshot.jpg", _headers)
        except CameraBridgeResponseError as err:
            if err.code == "no_snapshot":
                return None
            raise
        return f"{headers.get('ETag')} {headers.get('Last-Modified')}"

    async def snapshot_now(self, camera_id: str) -> None:
        """Ask for a fresh snapshot from the camera's next keyframe (role operator)."""
        await self._json("POST", f"/api/cameras/{camera_id}/snapshot")

    async def timelapses(self) -> list[Timelapse]:
        """Every timelapse; empty for a bridge without timelapses (404/403 on the route, or
        503 while they are starting)."""
        try:
            body = await self._json("GET", "/api/timelapses")
        except (CameraBridgeNotFoundError, CameraBridgeAuthError):
            return []  # an older bridge: unknown paths are 404, or 403 below admin (fail closed)
        except CameraBridgeResponseError as err:
            if err.status == 503:
                return []
            raise
        return [Timelapse.from_dict(tl) for tl in body["timelapses"]]

    async def create_timelapse(self, body: dict[str, Any]) -> Timelapse:
        """Create a timelapse (``camera``, ``name``, ``id``?, options as the bridge documents);
        raises CameraBridgeResponseError (``invalid_config``/``conflict``) for a refused body."""
        return Timelapse.from_dict(await self._json("POST", "/api/timelapses", json_body=body))

    async def timelapse_action(self, timelapse_id: str, action: str) -> Timelapse:
        """``start``, ``pause``, ``resume``, ``stop``, ``render`` or ``cancel``."""
        return Timelapse.from_dict(await self._json("POST", f"/api/timelapses/{timelapse_id}/actions/{action}"))

    async def timelapse_videos(self, timelapse_id: str) -> list[dict[str, Any]]:
        """The timelapse's rendered videos (``id``, ``created_at``, ``duration`` seconds,
        ``size`` bytes, ``url``, ``thumbnail_url``, ...), as the bridge lists them."""
        body = await self._json("GET", f"/api/timelapses/{timelapse_id}/videos")
        return list(body["videos"])

    async def event_clips(self, camera_id: str) -> list[dict[str, Any]]:
        """The camera's event clips, newest first (``id``, ``started_at``, ``ended_at``,
        ``size`` bytes, ``url``, ``snapshot_url``, ``label``, as the bridge lists them); empty
        for a camera without clips or a bridge without the route (404/403)."""
        try:
            body = await self._json("GET", f"/api/cameras/{camera_id}/clips")
        except (CameraBridgeNotFoundError, CameraBridgeAuthError):
            return []
        return list(body["clips"])

    async def fetch(self, path: str) -> bytes:
        """The body of ``GET path`` (a bridge path such as a thumbnail's ``/api/...jpg``)."""
        return await self._bytes(path)

    def open(self, path: str, headers: dict[str, str] | None = None) -> Any:
        """``async with client.open(path, {"Range": ...}) as resp``: a streamed GET of a bridge
        path (videos), with the API key; the caller reads ``resp`` (an aiohttp response).
        Connection errors are aiohttp's."""
        return self._session.get(self._base + path, headers={**(headers or {}), **self._headers}, ssl=self._ssl)

    async def signed_link(
        self, *, camera: str | None = None, event: str | None = None, kind: str = "snapshot", expires_in: int = 3600
    ) -> str:
        """``POST /api/links`` (role operator, with an API key): an absolute URL of a camera's
        ``snapshot``/``mjpeg`` or an event's ``event_snapshot``/``event_clip`` that works without
        the API key for ``expires_in`` seconds (a notification image). Raises
        CameraBridgeAuthError (a viewer key, no key), CameraBridgeNotFoundError (unknown camera
        or event, or a bridge without signed links)."""
        body: dict[str, Any] = {"kind": kind, "expires_in": expires_in}
        body.update({"camera": camera} if event is None else {"event": event})
        answer = await self._json("POST", "/api/links", json_body=body)
        return self._base + str(answer["path"])

    async def detection(self, camera_id: str) -> dict[str, Any] | None:
        """``GET /api/cameras/{id}/detection``: ``{enabled, motion, counts, snapshots, stats}``;
        None when the bridge has no such route (an older bridge: 404/403)."""
        try:
            return await self._json("GET", f"/api/cameras/{camera_id}/detection")
        except (CameraBridgeNotFoundError, CameraBridgeAuthError):
            return None

    async def set_detection(self, camera_id: str, enabled: bool) -> dict[str, Any]:
        """Switch the camera's detection at run time (role operator); the new state."""
        return await self._json("PUT", f"/api/cameras/{camera_id}/detection", json_body={"enabled": enabled})

    async def set_camera_enabled(self, camera_id: str, enabled: bool) -> Camera:
        """Switch a camera on or off (``PUT /api/cameras/{id}/enabled``, role operator); the
        camera after the switch (``state`` ``disabled`` while off)."""
        return Camera.from_dict(
            await self._json("PUT", f"/api/cameras/{camera_id}/enabled", json_body={"enabled": enabled})
        )

    async def mediamtx_health(self) -> dict[str, Any] | None:
        """``GET /health/mediamtx``: ``{status: available|unavailable|disabled, version, ...}``;
        None for a bridge without MediaMTX support (404/403)."""
        try:
            return await self._json("GET", "/health/mediamtx", accept=(503,))
        except (CameraBridgeNotFoundError, CameraBridgeAuthError):
            return None

    async def set_recording(self, camera_id: str, recording: bool) -> dict[str, Any]:
        """Switch a camera's MediaMTX recording (role admin): ``{camera, recording, mediamtx}``."""
        return await self._json("PUT", f"/api/cameras/{camera_id}/recording", json_body={"recording": recording})

    async def set_discovery(self, enabled: bool) -> BridgeInfo:
        """Switch the bridge's Home Assistant MQTT discovery (role admin)."""
        return BridgeInfo.from_dict(await self._json("PUT", "/api/bridge/discovery", json_body={"enabled": enabled}))

    async def events(self, types: list[str] | None = None) -> AsyncIterator[BridgeEvent]:
        """Events pushed over the WebSocket (JSON-RPC ``events.subscribe``), the first one a
        :data:`SUBSCRIBED` pseudo-event once the subscription is confirmed. Ends by raising
        CameraBridgeConnectionError when the connection drops (CameraBridgeAuthError when the
        key is refused); reload the full state after reconnecting, events are not resumed."""
        try:
            async with self._session.ws_connect(
                self._ws_url, headers=self._headers, ssl=self._ssl, heartbeat=WS_HEARTBEAT
            ) as ws:
                params = {"types": types} if types else {}
                await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": params})
                async for msg in ws:
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        break
                    frame = json.loads(msg.data)
                    if frame.get("id") == 1:
                        if "error" in frame:
                            _raise_rpc(frame["error"])
                        yield BridgeEvent(SUBSCRIBED, {}, 0.0)
                    elif frame.get("method") == "event":
                        p = frame["params"]
                        yield BridgeEvent(p["type"], p.get("data") or {}, p.get("time", 0.0), p.get("missed", 0))
        except aiohttp.WSServerHandshakeError as err:
            if err.status in (401, 403):
                raise CameraBridgeAuthError(f"WebSocket refused: {err.status}") from err
            raise CameraBridgeConnectionError(f"WebSocket refused: {err.status}") from err
        except (aiohttp.ClientError, ValueError, KeyError) as err:
            raise CameraBridgeConnectionError(f"WebSocket: {err}") from err
        raise CameraBridgeConnectionError("WebSocket closed by the bridge")


async def _json_object(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """The answer's JSON object, ``{}`` for 204 No Content; ValueError for anything else."""
    if resp.status == 204:
        return {}
    body = await resp.json(content_type=None)
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


async def _body(resp: aiohttp.ClientResponse) -> bytes:
    return await resp.read()


async def _headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    return dict(resp.headers)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


async def _raise_for(resp: aiohttp.ClientResponse) -> None:
    try:
        body = await resp.json(content_type=None)
        code, message = body.get("error", ""), body.get("message", "")
    except (ValueError, aiohttp.ClientError, AttributeError):
        code, message = "", resp.reason or ""
    text = f"{resp.status} {code}: {message}".strip()
    if resp.status in (401, 403):
        raise CameraBridgeAuthError(text)
    if resp.status == 404:
        raise CameraBridgeNotFoundError(text)
    no_snapshot = code == "no_snapshot" or (resp.method == "HEAD" and resp.status == 503)  # HEAD: no body
    if no_snapshot:
        raise CameraBridgeResponseError(text, resp.status, "no_snapshot")
    if resp.status >= 500:
        raise CameraBridgeConnectionError(text)
    raise CameraBridgeResponseError(text, resp.status, code)


def _raise_rpc(error: dict[str, Any]) -> None:
    message = error.get("message", "")
    if error.get("code") in (-32004, -32005):
        raise CameraBridgeAuthError(message)
    raise CameraBridgeResponseError(message, 0, (error.get("data") or {}).get("error", ""))
