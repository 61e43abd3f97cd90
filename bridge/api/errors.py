"""JSON error responses: every API error is ``{"error": code, "message": text}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def json_error(status: int, error: str, message: str, *, headers: dict[str, str] | None = None,
               **extra: Any) -> web.Response:
    """A JSON error response, e.g. ``json_error(404, "not_found", "no camera front_door")``."""
    return web.json_response({"error": error, "message": message, **extra}, status=status,
                             headers=headers)


class ApiError(Exception):
    """Raised by handlers to answer with a JSON error (caught by the error middleware)."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        return json_error(self.status, self.error, self.message, **self.extra)
