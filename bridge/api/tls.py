"""HTTPS and WSS for the API (``api.tls``), optionally with client certificates (mTLS).

:func:`server_context` builds the server's ``ssl.SSLContext``: TLS 1.2 or newer (``min_version``;
1.3 is negotiated whenever the client has it), the certificate chain and key (loaded again on
SIGHUP and when their files change: :func:`reload`, :func:`watch`), and with
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
    from ..config.api import TLS_CIPHERS

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = VERSIONS[tls.min_version]
    context.set_ciphers(TLS_CIPHERS)
    context.load_cert_chain(tls.cert, tls.key)
    if tls.client_ca is not None:
        context.load_verify_locations(tls.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


RELOAD_CHECK = 5.0  #: seconds between checks whether the certificate or key file changed


def _stamp(tls: TlsConfig) -> tuple[tuple[int, ...], ...]:
    """What tells a changed file: (inode, size, mtime in ns) of each file (a renewal replacing
    the file or a symlink, or rewriting it in place, changes one of them)."""
    stamps: list[tuple[int, ...]] = []
    for path in (tls.cert, tls.key, tls.client_ca):
        try:
            st = os.stat(path) if path else None
        except OSError:
            stamps.append((-1,))
            continue
        stamps.append((st.st_ino, st.st_size, st.st_mtime_ns) if st is not None else ())
    return tuple(stamps)


def reload(context: ssl.SSLContext, tls: TlsConfig, why: str) -> bool:
    """Load the certificate, key and client CA files again into ``context`` (new connections
    get them; open ones keep theirs); ``why`` (``SIGHUP``, ``file change``) is logged. A pair
    that does not load (written half, or not matching) is warned about and the old one kept:
    returns False then."""
    try:
        context.load_cert_chain(tls.cert, tls.key)
        if tls.client_ca is not None:
            context.load_verify_locations(tls.client_ca)
    except (ssl.SSLError, OSError) as err:
        _LOGGER.warning("api: the certificate %s does not load (%s: %s); keeping the old one", tls.cert, why, err)
        return False
    _LOGGER.info("api: certificate %s reloaded (%s)", tls.cert, why)
    return True


async def watch(context: ssl.SSLContext, tls: TlsConfig) -> None:
    """Reload the certificate, key and client CA into ``context`` (:func:`reload`) when their
    files change, checked every :data:`RELOAD_CHECK` seconds; a pair that does not load is tried
    again at the next change. Runs until cancelled."""
    seen = _stamp(tls)
    while True:
        await asyncio.sleep(RELOAD_CHECK)
        now = _stamp(tls)
        if now != seen:
            seen = now
            await asyncio.to_thread(reload, context, tls, "file change")


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


__all__ = ["principal", "reload", "server_context", "subject_cn", "watch"]
