"""HTTPS and WSS for the API (``api.tls``), optionally with client certificates (mTLS).

:func:`server_context` builds the server's ``ssl.SSLContext``: TLS 1.2 or newer (``min_version``;
1.3 is negotiated whenever the client has it), the certificate chain and key, and with
``client_ca`` a client certificate is *required* and verified against it. :func:`principal` maps
a verified client certificate's subject common name to a role through ``client_roles``, so a
client may authenticate with its certificate instead of an API key.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from ..config import TlsConfig

_LOGGER = logging.getLogger(__name__)

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_context(tls: TlsConfig) -> ssl.SSLContext:
    """The server context for ``tls``. Raises ``ssl.SSLError``/``OSError`` when a file does not
    load (the configuration already checked that they do)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = VERSIONS[tls.min_version]
    context.load_cert_chain(tls.cert, tls.key)
    if tls.client_ca is not None:
        context.load_verify_locations(tls.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


RELOAD_CHECK = 5.0  #: seconds between checks whether the certificate or key file changed


def _stamp(tls: TlsConfig) -> tuple[float, ...]:
    stamps = []
    for path in (tls.cert, tls.key, tls.client_ca):
        try:
            stamps.append(os.stat(path).st_mtime if path else 0.0)
        except OSError:
            stamps.append(-1.0)
    return tuple(stamps)


async def watch(context: ssl.SSLContext, tls: TlsConfig) -> None:
    """Reload the certificate, key and client CA into ``context`` when their files change
    (new connections get the new certificate; open ones keep theirs). A pair that does not load
    (written half, or not matching) is warned about and the old one kept. Runs until cancelled."""
    seen = _stamp(tls)
    while True:
        await asyncio.sleep(RELOAD_CHECK)
        now = _stamp(tls)
        if now == seen:
            continue
        try:
            context.load_cert_chain(tls.cert, tls.key)
            if tls.client_ca is not None:
                context.load_verify_locations(tls.client_ca)
        except (ssl.SSLError, OSError) as err:
            _LOGGER.warning("api: the changed certificate %s does not load (%s); keeping the old one", tls.cert, err)
            continue  # retried at the next change
        finally:
            seen = now
        _LOGGER.info("api: certificate %s reloaded", tls.cert)


def subject_cn(peercert: dict[str, Any] | None) -> str | None:
    """The common name of a verified peer certificate (``SSLSocket.getpeercert()`` form)."""
    for rdn in (peercert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def principal(request: web.Request, tls: TlsConfig | None) -> Any:
    """The principal of a request whose verified client certificate's subject is in
    ``client_roles`` (role from there, method ``client_cert``); None otherwise."""
    if tls is None or tls.client_ca is None or request.transport is None:
        return None
    name = subject_cn(request.transport.get_extra_info("peercert"))
    role = tls.client_roles.get(name) if name is not None else None
    if name is None or role is None:
        return None
    from .auth import Principal

    return Principal(name, role, "client_cert")


__all__ = ["principal", "server_context", "subject_cn", "watch"]
