"""The OpenAPI document (bridge/api/openapi.yaml, served at /api/openapi.json) is true to the API:
every route of the live application is in it with the role the auth middleware enforces (and
every operation in it is a route), and schemathesis, generating requests from it against a live
bridge, finds no server error and no response the document does not describe."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bridge import __version__
from bridge.api import auth
from bridge.api.openapi import spec
from bridge.app import Bridge

from ..conftest import make_config, running

#: routes documented elsewhere: the WebSocket JSON-RPC endpoint (bridge/api/rpc.py), the web page
#: and its files (bridge/api/web.py, docs/web.md)
NOT_IN_SPEC = {"/ws", "/", "/static/{name}"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance, response_headers_conformance]
#: the test's cameras: one that streams, one that never does (snapshot 503), and an API camera
#: the generated requests may add, change and remove; ``missing`` does not exist
LIVE, DEAD, API_CAM, MISSING = "demo", "dead", "api_cam", "missing"
LAVFI = "lavfi:testsrc2=size=320x240:rate=5"


# ---------------------------------------------------------------------------------------------
# a bridge in a thread of its own: schemathesis' tests are synchronous and block their thread


class BridgeThread:
    """Runs a bridge in a background thread with its own event loop."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.bridge: Bridge | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bridge", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # noqa: BLE001 - reported to the test thread
            self._error = err
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running(self.config) as bridge:
            self.bridge = bridge
            self._started.set()
            await self._stop.wait()

    def __enter__(self) -> Bridge:
        self._thread.start()
        assert self._started.wait(30), "the bridge did not start"
        if self._error is not None:
            raise self._error
        assert self.bridge is not None
        return self.bridge

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the bridge did not stop"
        if self._error is not None:
            raise self._error


@pytest.fixture(scope="module")
def live(broker, tmp_path_factory) -> Iterator[Bridge]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    config = make_config(broker.port, prefix, {
        LIVE: {"url": LAVFI, "snapshot": {"interval": 0.5}},
        DEAD: {"url": "rtsp://127.0.0.1:9/none", "open_timeout": 1},
    }, api={"rate_limit": {"rate": 10000, "burst": 10000, "auth_failures": 100000}},
        data_dir=tmp_path_factory.mktemp("openapi-state"))
    with BridgeThread(config) as bridge:
        deadline = time.monotonic() + 15
        while bridge.snapshots[LIVE].latest is None:
            assert time.monotonic() < deadline, "no snapshot from the lavfi camera"
            time.sleep(0.05)
        yield bridge


def base_url(bridge: Bridge) -> str:
    assert bridge.api is not None and bridge.api.port
    return f"http://127.0.0.1:{bridge.api.port}"


# ---------------------------------------------------------------------------------------------
# (a) routes <-> operations


def documented(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) -> operation, for every operation of the document."""
    return {(method.upper(), path): op for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS}


def routes(bridge: Bridge) -> dict[tuple[str, str], Any]:
    """(METHOD, path) -> route of the live application; aiohttp's automatic HEAD of a GET route
    is covered by the GET operation."""
    assert bridge.api is not None
    found = {}
    for route in bridge.api._app.router.routes():  # noqa: SLF001 - the live application
        resource = route.resource
        assert resource is not None
        found[(route.method, resource.canonical)] = route
    return {key: route for key, route in found.items()
            if key[1] not in NOT_IN_SPEC and not (key[0] == "HEAD" and ("GET", key[1]) in found)}


def enforced_role(route: Any) -> str:
    """The role the auth middleware requires for ``route`` (its rule, see auth.route_role)."""
    name = route.resource.name
    if name in auth.ROUTE_ROLES:
        return auth.ROUTE_ROLES[name]
    return getattr(route.handler, auth.ROLE_ATTR, auth.DEFAULT_ROLE)


def test_every_route_is_documented_and_every_operation_is_a_route(live):
    doc, app_routes = spec(), routes(live)
    missing = sorted(set(app_routes) - set(documented(doc)))
    assert not missing, f"routes missing from bridge/api/openapi.yaml: {missing}"
    stale = sorted(set(documented(doc)) - set(app_routes))
    assert not stale, f"bridge/api/openapi.yaml documents operations the API does not have: {stale}"


def test_operations_name_their_route_and_its_role(live):
    """operationId is the route name (the key of auth.ROUTE_ROLES), ``x-required-role`` the
    role the middleware enforces; public operations need no security, the others list the
    401 (and, above viewer, 403) and 429 answers."""
    app_routes = routes(live)
    problems = []
    for key, op in documented(spec()).items():
        route = app_routes[key]
        role = enforced_role(route)
        shown = "public" if role == auth.PUBLIC else role
        if op.get("operationId") != route.resource.name:
            problems.append(f"{key}: operationId {op.get('operationId')!r}, "
                            f"route name {route.resource.name!r}")
        if op.get("x-required-role") != shown:
            problems.append(f"{key}: x-required-role {op.get('x-required-role')!r}, "
                            f"the API enforces {shown!r}")
        codes = set(op["responses"])
        if role == auth.PUBLIC:
            if op.get("security") != [] or codes & {"401", "403", "429"}:
                problems.append(f"{key}: public, so `security: []` and no 401/403/429")
        else:
            expected = {"401", "429"} | ({"403"} if role != "viewer" else set())
            if not expected <= codes:
                problems.append(f"{key}: responses lack {sorted(expected - codes)}")
    assert not problems, "\n".join(problems)


def test_the_document_is_served_as_json(live):
    resp = requests.get(f"{base_url(live)}/api/openapi.json", timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    served = resp.json()
    assert served == spec()
    assert served["openapi"].startswith("3.1.") and [s["url"] for s in served["servers"]] == ["/"]
    assert served["info"]["version"] == __version__


# ---------------------------------------------------------------------------------------------
# (b) schemathesis against the live bridge


def for_this_bridge(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with examples naming this test's cameras: camera ids from a fixed list (so
    generated requests reach real cameras, not only 404s) and a lavfi camera to add."""
    doc = copy.deepcopy(doc)
    cam_id = doc["components"]["parameters"]["CameraId"]
    cam_id["schema"] = {"type": "string", "enum": [LIVE, DEAD, API_CAM, MISSING]}
    cam_id.pop("example", None)
    cam_id["examples"] = {name: {"value": name} for name in (LIVE, DEAD, API_CAM, MISSING)}
    add = doc["paths"]["/api/cameras"]["post"]["requestBody"]["content"]["application/json"]
    add["examples"] = {"lavfi": {"value": {"id": API_CAM, "url": LAVFI, "snapshot": {"interval": 1}}},
                       "named": {"value": {"name": "Api Cam 2", "url": LAVFI}}}
    return doc


def endless(doc: dict[str, Any]) -> list[str]:
    return [op["operationId"] for op in documented(doc).values() if op.get("x-endless-stream")]


def checks_config(doc: dict[str, Any]) -> schemathesis.Config:
    """A 5xx is a server error, except a 503 where the document describes one (a snapshot not
    there yet, not ready): ``status_code_conformance`` still fails a 503 anywhere else."""
    return schemathesis.Config.from_dict({"operations": [
        {"include-operation-id": op["operationId"],
         "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}}}
        for op in documented(doc).values() if "503" in op["responses"]]})


#: the base URL is the live bridge's, given to each call
schema = schemathesis.openapi.from_dict(for_this_bridge(spec()), config=checks_config(spec())).exclude(
    operation_id=endless(spec()))


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_the_document(case, live):
    case.call_and_validate(base_url=base_url(live), checks=CHECKS, timeout=10)


def test_endless_streams_conform(live, caplog):
    """MJPEG and SSE never end, so schemathesis leaves them out: their start is checked here,
    and a client leaving is the normal end of a stream, not an error."""
    doc, url = spec(), base_url(live)
    for path, template, start in ((f"/api/cameras/{LIVE}/mjpeg", "/api/cameras/{id}/mjpeg", b"--frame"),
                                  ("/api/events?types=camera.status", "/api/events", b"retry: ")):
        documented_200 = doc["paths"][template]["get"]["responses"]["200"]
        with contextlib.closing(requests.get(url + path, stream=True, timeout=5)) as resp:
            assert resp.status_code == 200
            assert resp.headers["Content-Type"].split(";")[0] in documented_200["content"]
            assert next(resp.iter_content(64)).startswith(start)
    missing = requests.get(f"{url}/api/cameras/{MISSING}/mjpeg", timeout=5)
    assert missing.status_code == 404
    schemathesis.openapi.from_dict(spec())["/api/cameras/{id}/mjpeg"]["GET"].validate_response(missing)
    time.sleep(1.5)  # the MJPEG handler writes the next snapshot (every 0.5 s) to the closed stream
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


def test_malformed_input_is_a_client_error(live):
    """Found by schemathesis, kept as fixed cases: a camera id that is not a string (unhashable)
    is a 400; digits that ``int()`` refuses (superscripts, more than 4300 of them) or that are
    not ASCII are a documented 400 (``width``) or ignored (``Last-Event-ID``); never a 500."""
    url = base_url(live)
    add = schemathesis.openapi.from_dict(spec())["/api/cameras"]["POST"]
    for cam_id in ([None, None], {"a": 1}):
        case = add.Case(body={"id": cam_id, "url": LAVFI}, media_type="application/json")
        assert case.call_and_validate(base_url=url, checks=CHECKS, timeout=5).status_code == 400
    snapshot = schemathesis.openapi.from_dict(spec())["/api/cameras/{id}/snapshot.jpg"]["GET"]
    for width in ("²", "١٦", "9" * 5000):
        case = snapshot.Case(path_parameters={"id": LIVE}, query={"width": width})
        assert case.call_and_validate(base_url=url, checks=CHECKS, timeout=5).status_code == 400
    for last in ("²", "9" * 5000):
        with contextlib.closing(requests.get(f"{url}/api/events", headers={"Last-Event-ID": last},
                                             stream=True, timeout=5)) as resp:
            assert resp.status_code == 200 and next(resp.iter_content(64)).startswith(b"retry: ")


def test_conditional_snapshot_conforms(live):
    """``If-None-Match`` with the current ETag answers a documented 304 (generated requests
    cannot guess an ETag)."""
    url = base_url(live)
    snapshot = schemathesis.openapi.from_dict(spec())["/api/cameras/{id}/snapshot.jpg"]["GET"]
    for _ in range(20):  # the camera makes a new snapshot every 0.5 s: retry when it did
        first = snapshot.Case(path_parameters={"id": LIVE}).call_and_validate(
            base_url=url, checks=CHECKS, timeout=5)
        etag = first.headers["etag"][0]
        again = snapshot.Case(path_parameters={"id": LIVE}, headers={"If-None-Match": etag}
                              ).call_and_validate(base_url=url, checks=CHECKS, timeout=5)
        if again.status_code == 304:
            break
    assert again.status_code == 304 and again.content == b""


def test_auth_and_rate_limit_answers_conform(broker, tmp_path):
    """401 (no or a wrong credential), 403 (role too low) and 429 (rate limit) are answered as
    documented, and the public probes need no credential."""
    key = auth.generate_key()
    config = make_config(broker.port, f"t{uuid.uuid4().hex[:8]}", {LIVE: {"url": LAVFI}}, api={
        "auth": "required", "rate_limit": {"rate": 0.01, "burst": 3},
        "keys": [{"name": "dashboard", "hash": auth.hash_key(key), "role": "viewer"}]},
        data_dir=tmp_path)
    doc = schemathesis.openapi.from_dict(spec())
    with BridgeThread(config) as bridge:
        url = base_url(bridge)

        def call(method: str, path: str, headers: dict[str, str] | None = None,
                 **path_parameters: str) -> int:
            case = doc[path][method].Case(path_parameters=path_parameters, headers=headers or {})
            return case.call_and_validate(base_url=url, checks=CHECKS, timeout=5).status_code

        viewer = {"X-API-Key": key}
        assert call("GET", "/api/cameras") == 401
        assert call("GET", "/api/cameras", {"Authorization": "Bearer cb_wrong"}) == 401
        assert call("GET", "/health/alive") == 200
        assert call("GET", "/api/cameras/{id}", {"Authorization": f"Bearer {key}"}, id=LIVE) == 200
        assert call("POST", "/api/cameras/{id}/snapshot", viewer, id=LIVE) == 403
        assert call("DELETE", "/api/cameras/{id}", viewer, id=LIVE) == 403
        statuses = [call("GET", "/metrics", viewer) for _ in range(4)]
        assert statuses[-1] == 429 and set(statuses) == {200, 429}, statuses


def test_overlong_file_url_is_a_client_error(live):
    add = schemathesis.openapi.from_dict(spec())["/api/cameras"]["POST"]
    case = add.Case(body={"id": "long_url", "url": "x" * 300}, media_type="application/json")
    assert case.call_and_validate(base_url=base_url(live), checks=CHECKS, timeout=5).status_code == 400
