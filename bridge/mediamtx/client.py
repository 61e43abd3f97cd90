"""Client of the MediaMTX Control API v3 (aiohttp).

Reference: MediaMTX's ``apidocs/openapi.yaml`` (v1.20.1, kept in ``../shared/mediamtx``). Only
the endpoints the bridge uses: ``/v3/info``, ``/v3/config/paths/*``, ``/v3/paths/*`` and
``/v3/recordings/*``. Field names changed between MediaMTX versions; :class:`PathStats` reads
both the old and the new ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from ..errors import BridgeError

_LOGGER = logging.getLogger(__name__)

#: items per page asked for in list calls (MediaMTX's default is 100)
PAGE_SIZE = 100


class MediamtxError(BridgeError):
    """Raised when a MediaMTX API call fails; ``status`` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MediamtxUnavailable(MediamtxError):
    """Raised when MediaMTX does not answer (connection refused, timeout, 5xx)."""


class MediamtxNotFound(MediamtxError):
    """Raised when MediaMTX answers 404 (no such path or recording)."""


@dataclass(frozen=True)
class PathStats:
    """Runtime state of one MediaMTX path: ``online`` (a source is publishing), ``readers``
    (count), ``inbound_bytes``/``outbound_bytes`` (bytes since the path started)."""

    name: str
    online: bool
    readers: int
    inbound_bytes: int
    outbound_bytes: int
    source: str | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> PathStats:
        """From a ``Path`` object of any MediaMTX version: ``online`` (v1.16+) or ``available``
        or ``ready`` (before v1.16); ``inboundBytes`` (v1.17+) or ``bytesReceived``;
        ``outboundBytes`` or ``bytesSent``."""
        online = next((item[k] for k in ("online", "available", "ready") if item.get(k) is not None), False)
        inbound = item.get("inboundBytes", item.get("bytesReceived", 0))
        outbound = item.get("outboundBytes", item.get("bytesSent", 0))
        source = item.get("source") or {}
        return cls(
            name=str(item.get("name", "")),
            online=bool(online),
            readers=len(item.get("readers") or []),
            inbound_bytes=int(inbound or 0),
            outbound_bytes=int(outbound or 0),
            source=source.get("type") if isinstance(source, dict) else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """The API/status form."""
        return {
            "path": self.name,
            "online": self.online,
            "readers": self.readers,
            "inbound_bytes": self.inbound_bytes,
            "outbound_bytes": self.outbound_bytes,
        }


class MediamtxClient:
    """Calls one MediaMTX instance at ``api_url`` (``http://host:9997``).

    Every method raises :class:`MediamtxUnavailable` when MediaMTX does not answer within
    ``timeout`` seconds (or answers 5xx), :class:`MediamtxNotFound` on 404 and
    :class:`MediamtxError` on other 4xx. Use as ``async with`` (owns an aiohttp session).
    """

    def __init__(
        self, api_url: str, *, username: str | None = None, password: str | None = None, timeout: float = 5.0
    ) -> None:
        self._base = api_url.rstrip("/")
        self._headers = {"Authorization": aiohttp.encode_basic_auth(username, password or "")} if username else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        #: requests sent (attempts that reached the network layer), for tests and metrics
        self.requests = 0

    async def __aenter__(self) -> MediamtxClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
    ) -> Any:
        assert self._session is not None, "use the client as an async context manager"
        self.requests += 1
        url = self._base + path
        try:
            async with self._session.request(method, url, json=body, params=params) as resp:
                text = await resp.text()
                data: Any = None
                if text:
                    try:
                        data = await resp.json(content_type=None)
                    except ValueError:
                        data = None
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise MediamtxUnavailable(f"MediaMTX {method} {path}: {type(err).__name__}: {err}") from err
        if status < 300:
            return data
        message = data.get("error") if isinstance(data, dict) else None
        message = f"MediaMTX {method} {path}: {status} {message or text[:200]}"
        if status == 404:
            raise MediamtxNotFound(message, status)
        if status >= 500:
            raise MediamtxUnavailable(message, status)
        raise MediamtxError(message, status)

    async def _pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 0
        while True:
            data = await self._call("GET", path, params={"page": str(page), "itemsPerPage": str(PAGE_SIZE)})
            items += (data or {}).get("items") or []
            if page + 1 >= int((data or {}).get("pageCount") or 1):
                return items
            page += 1

    @staticmethod
    def _name(name: str) -> str:
        return quote(name, safe="")

    async def info(self) -> dict[str, Any]:
        """``GET /v3/info``: ``{version, started}`` (``started`` changes when MediaMTX restarts)."""
        return await self._call("GET", "/v3/info") or {}

    async def list_path_configs(self) -> dict[str, dict[str, Any]]:
        """``GET /v3/config/paths/list`` (every page): name -> path configuration."""
        return {item["name"]: item for item in await self._pages("/v3/config/paths/list") if "name" in item}

    async def get_path_config(self, name: str) -> dict[str, Any]:
        """``GET /v3/config/paths/get/{name}``."""
        return await self._call("GET", f"/v3/config/paths/get/{self._name(name)}") or {}

    async def add_path(self, name: str, conf: dict[str, Any]) -> None:
        """``POST /v3/config/paths/add/{name}``."""
        await self._call("POST", f"/v3/config/paths/add/{self._name(name)}", conf)

    async def patch_path(self, name: str, conf: dict[str, Any]) -> None:
        """``PATCH /v3/config/paths/patch/{name}``: only the given fields change."""
        await self._call("PATCH", f"/v3/config/paths/patch/{self._name(name)}", conf)

    async def replace_path(self, name: str, conf: dict[str, Any]) -> None:
        """``POST /v3/config/paths/replace/{name}``: every field not given gets its default."""
        await self._call("POST", f"/v3/config/paths/replace/{self._name(name)}", conf)

    async def delete_path(self, name: str) -> None:
        """``DELETE /v3/config/paths/delete/{name}``."""
        await self._call("DELETE", f"/v3/config/paths/delete/{self._name(name)}")

    async def list_paths(self) -> dict[str, PathStats]:
        """``GET /v3/paths/list`` (every page): name -> runtime state."""
        return {s.name: s for s in map(PathStats.from_api, await self._pages("/v3/paths/list"))}

    async def get_path(self, name: str) -> PathStats:
        """``GET /v3/paths/get/{name}``."""
        return PathStats.from_api(await self._call("GET", f"/v3/paths/get/{self._name(name)}") or {})

    async def list_recordings(self) -> dict[str, list[str]]:
        """``GET /v3/recordings/list`` (every page): path -> segment start times (RFC 3339)."""
        return {
            item.get("name", ""): [s.get("start", "") for s in item.get("segments") or []]
            for item in await self._pages("/v3/recordings/list")
        }

    async def get_recordings(self, name: str) -> list[str]:
        """``GET /v3/recordings/get/{name}``: the path's segment start times (RFC 3339)."""
        data = await self._call("GET", f"/v3/recordings/get/{self._name(name)}") or {}
        return [s.get("start", "") for s in data.get("segments") or []]
