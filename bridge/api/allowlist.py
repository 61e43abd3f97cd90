"""``api.allow_networks``: only clients whose address is in one of these networks (CIDR) are
served; any other request is refused with ``403 network_not_allowed`` before authentication,
rate limiting or any route runs. Loopback clients are always allowed (the local tools and a
reverse proxy on the same machine); ``null`` (the default) allows every address.

Behind a reverse proxy every request comes from the proxy's address (``X-Forwarded-For`` is
not trusted): filter at the proxy then.
"""

from __future__ import annotations

import ipaddress
import logging
import time
import weakref
from collections.abc import Awaitable, Callable

from aiohttp import web

from .errors import json_error

_LOGGER = logging.getLogger(__name__)

WARN_EVERY = 60.0  #: seconds between two warnings about refused clients

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Allowlist:
    """The allowed networks of one API application; :meth:`allows` says whether an address is."""

    def __init__(self, networks: list[str] | None) -> None:
        self.networks: tuple[Network, ...] | None = (
            None if networks is None else tuple(ipaddress.ip_network(n, strict=False) for n in networks)
        )
        self._warned = 0.0

    def allows(self, address: str | None) -> bool:
        """Whether ``address`` (an IP address text; None or a Unix socket: refused) may connect."""
        if self.networks is None:
            return True
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback or any(ip in net for net in self.networks if net.version == ip.version)

    def refused(self, address: str | None) -> None:
        """Log a refusal: a warning at most every :data:`WARN_EVERY` seconds, else debug."""
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            _LOGGER.warning(
                "api: refused %s: not in api.allow_networks (more refusals within %d s are logged at debug)",
                address,
                WARN_EVERY,
            )
        else:
            _LOGGER.debug("api: refused %s: not in api.allow_networks", address)


_LISTS: weakref.WeakKeyDictionary[web.Application, Allowlist] = weakref.WeakKeyDictionary()


def allowlist(app: web.Application) -> Allowlist:
    """The allowlist of ``app`` (from its ``api.allow_networks``, on first use)."""
    found = _LISTS.get(app)
    if found is None:
        from .keys import CONFIG

        found = _LISTS[app] = Allowlist(app[CONFIG].allow_networks)
    return found


@web.middleware
async def allowlist_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 ``network_not_allowed`` for a client outside ``api.allow_networks``."""
    found = allowlist(request.app)
    if not found.allows(request.remote):
        found.refused(request.remote)
        return json_error(
            403, "network_not_allowed", f"client {request.remote} is not in an allowed network (api.allow_networks)"
        )
    return await handler(request)


__all__ = ["Allowlist", "allowlist", "allowlist_middleware"]
