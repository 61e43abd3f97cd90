"""A fake MediaMTX Control API (v3) for tests: an aiohttp server keeping path configurations in
memory, validating every request it receives and every response it sends against MediaMTX's own
OpenAPI document (``../shared/mediamtx/openapi.yaml``, v1.20.1) with openapi-core.

Object schemas are made strict (``additionalProperties: false``) so an unknown field, like a
wrong path, verb or type, is a violation. Violations are collected and fail the test at
:meth:`FakeMediamtx.__aexit__` (and are answered with 400, as MediaMTX would).

``stop()``/``start()`` take the server away and bring it back on the same port (state kept);
``restart()`` is MediaMTX restarting: paths added through the API are gone, ``started`` changes.
"""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

import yaml
from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.contrib.aiohttp import AIOHTTPOpenAPIWebRequest, AIOHTTPOpenAPIWebResponse

from .peers import SHARED, free_port

SPEC_PATH = SHARED / "mediamtx" / "openapi.yaml"


def _strict(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["servers"] = [{"url": "/"}]
    for schema in spec["components"]["schemas"].values():
        if schema.get("type") == "object" and "properties" in schema:
            schema["additionalProperties"] = False
    return spec


_OPENAPI: OpenAPI | None = None


def openapi() -> OpenAPI:
    """The (strict) MediaMTX OpenAPI document, parsed once."""
    global _OPENAPI
    if _OPENAPI is None:
        _OPENAPI = OpenAPI.from_dict(_strict(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))))
    return _OPENAPI


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class FakeMediamtx:
    """In-memory MediaMTX API on 127.0.0.1:``port``. ``old_fields`` answers path statistics with
    the pre-v1.16/v1.17 names (``ready``, ``bytesReceived``, ``bytesSent``)."""

    def __init__(self, port: int | None = None, *, old_fields: bool = False) -> None:
        self.port = port or free_port()
        self.old_fields = old_fields
        self.started = _now()
        self.paths: dict[str, dict[str, Any]] = {}
        self.static: dict[str, dict[str, Any]] = {}  #: paths of its YAML file: survive restarts
        self.readers: dict[str, int] = {}
        self.recordings: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str]] = []  #: (method, path) of every request received
        self.violations: list[str] = []
        self.refuse: set[str] = set()  #: path names whose add/patch is answered 400
        self.headers: list[dict[str, str]] = []  #: headers of every request
        self.down = False
        self._runner: web.AppRunner | None = None
        self.generation = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls(self, method: str | None = None, prefix: str = "") -> list[tuple[str, str]]:
        """Requests received, optionally only of ``method`` and paths starting with ``prefix``."""
        return [(m, p) for m, p in self.requests if (method is None or m == method) and p.startswith(prefix)]

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> FakeMediamtx:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if exc[0] is None:
            self.assert_valid()

    def assert_valid(self) -> None:
        assert not self.violations, "MediaMTX API contract violations:\n" + "\n".join(self.violations)

    async def start(self) -> None:
        app = web.Application(middlewares=[self._validate])
        app.router.add_get("/v3/info", self._info)
        app.router.add_get("/v3/config/paths/list", self._conf_list)
        app.router.add_get("/v3/config/paths/get/{name}", self._conf_get)
        app.router.add_post("/v3/config/paths/add/{name}", self._conf_add)
        app.router.add_patch("/v3/config/paths/patch/{name}", self._conf_patch)
        app.router.add_post("/v3/config/paths/replace/{name}", self._conf_replace)
        app.router.add_delete("/v3/config/paths/delete/{name}", self._conf_delete)
        app.router.add_get("/v3/paths/list", self._paths_list)
        app.router.add_get("/v3/paths/get/{name}", self._paths_get)
        app.router.add_get("/v3/recordings/list", self._rec_list)
        app.router.add_get("/v3/recordings/get/{name}", self._rec_get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        self.down = False

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.down = True

    async def restart(self) -> None:
        """MediaMTX restarted: API-added paths gone (its YAML paths back), ``started`` changed."""
        await self.stop()
        self.paths = copy.deepcopy(self.static)
        self.readers = {}
        self.generation += 1
        self.started = _now() + f"#{self.generation}"
        await self.start()

    # -- validation ------------------------------------------------------------------------

    @web.middleware
    async def _validate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        self.headers.append(dict(request.headers))
        body = await request.read()
        oreq = AIOHTTPOpenAPIWebRequest(request, body=body or None)
        try:
            openapi().validate_request(oreq)
        except Exception as err:  # noqa: BLE001 - every kind of violation is reported
            self.violations.append(f"request {request.method} {request.path_qs} {body[:300]!r}: {err!r}")
            return self._error(400, f"invalid request: {err}")
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            response = self._error(404, "not found")
        try:
            openapi().validate_response(oreq, AIOHTTPOpenAPIWebResponse(response))
        except Exception as err:  # noqa: BLE001
            self.violations.append(f"response to {request.method} {request.path}: {response.status} "
                                   f"{response.body!r}: {err!r}")
        return response

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")

    def _error(self, status: int, message: str) -> web.Response:
        return self._json({"status": "error", "error": message}, status)

    def _ok(self) -> web.Response:
        return self._json({"status": "ok"})

    @staticmethod
    def _page(items: list[dict[str, Any]], request: web.Request) -> dict[str, Any]:
        page = int(request.query.get("page", "0"))
        per = int(request.query.get("itemsPerPage", "100"))
        count = max(1, -(-len(items) // per))
        return {"itemCount": len(items), "pageCount": count, "items": items[page * per:(page + 1) * per]}

    # -- handlers --------------------------------------------------------------------------

    async def _info(self, request: web.Request) -> web.Response:
        return self._json({"version": "v1.20.1", "started": self.started})

    def _conf(self, name: str) -> dict[str, Any]:
        return {"name": name, **self.paths[name]}

    async def _conf_list(self, request: web.Request) -> web.Response:
        return self._json(self._page([self._conf(n) for n in sorted(self.paths)], request))

    async def _conf_get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.paths:
            return self._error(404, "path configuration not found")
        return self._json(self._conf(name))

    async def _conf_add(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name in self.paths or name in self.refuse:
            return self._error(400, "path already exists" if name in self.paths else "invalid configuration")
        self.paths[name] = dict(await request.json())
        return self._ok()

    async def _conf_patch(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.paths:
            return self._error(404, "path configuration not found")
        self.paths[name].update(await request.json())
        return self._ok()

    async def _conf_replace(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.paths:
            return self._error(404, "path configuration not found")
        self.paths[name] = dict(await request.json())
        return self._ok()

    async def _conf_delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.paths:
            return self._error(404, "path configuration not found")
        del self.paths[name]
        return self._ok()

    def _path(self, name: str) -> dict[str, Any]:
        """Runtime state: a path with a source (or a publisher command) is online."""
        conf = self.paths[name]
        online = conf.get("source", "publisher") != "publisher" or bool(conf.get("runOnInit"))
        readers = [{"type": "rtspSession", "id": f"r{i}"} for i in range(self.readers.get(name, 0))]
        item: dict[str, Any] = {"name": name, "confName": name, "readers": readers,
                                "source": {"type": "rtspSource", "id": "s1"} if online else None}
        inbound, outbound = (123456, 654321) if online else (0, 0)
        if self.old_fields:
            item.update({"ready": online, "readyTime": _now() if online else None,
                         "bytesReceived": inbound, "bytesSent": outbound})
        else:
            item.update({"online": online, "onlineTime": _now() if online else None,
                         "available": online, "availableTime": _now() if online else None,
                         "inboundBytes": inbound, "outboundBytes": outbound})
        return item

    async def _paths_list(self, request: web.Request) -> web.Response:
        return self._json(self._page([self._path(n) for n in sorted(self.paths)], request))

    async def _paths_get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.paths:
            return self._error(404, "path not found")
        return self._json(self._path(name))

    async def _rec_list(self, request: web.Request) -> web.Response:
        items = [{"name": n, "segments": [{"start": s} for s in segs]} for n, segs in sorted(self.recordings.items())]
        return self._json(self._page(items, request))

    async def _rec_get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.recordings:
            return self._error(404, "no recordings")
        return self._json({"name": name, "segments": [{"start": s} for s in self.recordings[name]]})
