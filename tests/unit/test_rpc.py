"""JSON-RPC methods against a fake view and control: the same commands as REST, errors from
the same table, roles from the same per-operation table."""

from __future__ import annotations

import json
from typing import Any

import bridge.api.server  # noqa: F401 - registers every method
from bridge.api import auth, rpc
from bridge.core.errors import Conflict

from .fakes import FakeControl, FakeView, make_config


class Socket:
    """Stands for the WebSocket: the tests read the replies of :meth:`rpc.Connection.handle`."""

    async def send_str(self, text: str) -> None:  # event notifications (none here)
        pass


def connection(role: str = "admin") -> tuple[rpc.Connection, FakeView, FakeControl]:
    view = FakeView(make_config({"porch": {"url": "rtsp://192.0.2.10/stream"}}))
    control = FakeControl(view)
    conn = rpc.Connection(view, control, Socket(), rpc.Caller("test", role, "api_key"))  # type: ignore[arg-type]
    return conn, view, control


async def call(conn: rpc.Connection, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return await conn.handle(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))


async def test_set_enabled_is_the_same_command_as_rest():
    conn, _view, control = connection()
    reply = await call(conn, "cameras.set_enabled", {"id": "porch", "enabled": False})
    assert reply["result"]["enabled"] is False
    assert control.calls == [("set_enabled", ("porch", False))]


async def test_an_unknown_camera_is_not_found_with_the_rest_error_string():
    conn, _view, control = connection()
    reply = await call(conn, "cameras.set_enabled", {"id": "garage", "enabled": True})
    assert reply["error"] == {"code": -32001, "message": "no camera garage", "data": {"error": "not_found"}}
    assert control.calls == []


async def test_a_conflict_is_minus_32002():
    conn, _view, control = connection()
    control.fail = Conflict("camera porch already exists")
    reply = await call(conn, "cameras.add", {"id": "porch", "url": "rtsp://192.0.2.11/stream"})
    assert reply["error"]["code"] == -32002 and reply["error"]["data"] == {"error": "conflict"}


async def test_roles_come_from_the_one_table_rest_uses():
    conn, _view, control = connection("viewer")
    reply = await call(conn, "cameras.set_enabled", {"id": "porch", "enabled": False})
    assert reply["error"]["code"] == -32005
    assert reply["error"]["data"]["role"] == auth.ROUTE_ROLES["cameras.set_enabled"] == "operator"
    assert control.calls == []


async def test_no_snapshot_yet_carries_the_camera_state():
    conn, _view, _control = connection()
    reply = await call(conn, "cameras.snapshot", {"id": "porch"})
    assert reply["error"]["code"] == -32006
    assert reply["error"]["data"] == {"error": "no_snapshot", "state": "connecting"}
