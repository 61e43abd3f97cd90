"""Client errors turned into translated Home Assistant errors, once for every action (entity
actions and services): :func:`bridge_errors` decorates them.

A refusal of the request itself (400 invalid input, 409 conflict) is the user's to fix:
``ServiceValidationError`` with translation key ``refused``. Every other fault (unreachable,
timeout, 5xx, a refused key or too low a role, an unknown object) is ``HomeAssistantError`` with
``bridge_error``. Both carry the bridge's message as the ``error`` placeholder.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .api import CameraBridgeApiError, CameraBridgeResponseError
from .const import DOMAIN

_P = ParamSpec("_P")
_R = TypeVar("_R")


def translated(err: CameraBridgeApiError | str) -> HomeAssistantError:
    """``err`` (a client error, or a message) as the translated error an action raises."""
    if isinstance(err, CameraBridgeResponseError) and err.status in (400, 409):
        return ServiceValidationError(
            translation_domain=DOMAIN, translation_key="refused", translation_placeholders={"error": str(err)}
        )
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key="bridge_error", translation_placeholders={"error": str(err)}
    )


def bridge_errors(func: Callable[_P, Awaitable[_R]]) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Decorate an action (a coroutine function): a ``CameraBridgeApiError`` it raises comes out
    as :func:`translated` (raised ``from`` the client error)."""

    @functools.wraps(func)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await func(*args, **kwargs)
        except CameraBridgeApiError as err:
            raise translated(err) from err

    return wrapper
