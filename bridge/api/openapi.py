"""``GET /api/openapi.json``: the OpenAPI 3.1 document of the HTTP API.

The document is ``bridge/api/openapi.yaml`` (package data), served as JSON with ``info.version``
set to the bridge's version. Its ``servers`` entry is relative (``/``), so clients resolve the
paths against wherever they fetched the document from (behind a proxy too).
``tests/e2e/test_openapi.py`` keeps it true to the routes and checks the live API against it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import yaml
from aiohttp import web

from .. import __version__
from .auth import requires

SPEC_FILE = "openapi.yaml"


def setup(app: web.Application) -> None:
    """Add ``GET /api/openapi.json``."""
    app.router.add_get("/api/openapi.json", openapi_json, name="openapi")


def spec() -> dict[str, Any]:
    """The OpenAPI document as data (a fresh copy), ``info.version`` the bridge's version."""
    return json.loads(_spec_json())


@cache
def _spec_json() -> str:
    text = resources.files(__package__).joinpath(SPEC_FILE).read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    doc["info"]["version"] = __version__
    return json.dumps(doc, ensure_ascii=False)


@requires("viewer")
async def openapi_json(request: web.Request) -> web.Response:
    """The document as JSON."""
    return web.Response(text=_spec_json(), content_type="application/json", headers={"Cache-Control": "no-cache"})


__all__ = ["openapi_json", "setup", "spec"]
