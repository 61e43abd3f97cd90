"""The ``api:`` section: the HTTP/WebSocket API's listen address, authentication and rate
limit."""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

import voluptuous as vol

from .options import (
    REQUIRED,
    Section,
    Sections,
    boolean,
    integer,
    matching,
    one_of,
    option,
    optional,
    options_of,
    positive,
    section_schema,
    text,
)

ROLES = ("viewer", "operator", "admin")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost`` or an IP in 127.0.0.0/8 or ::1);
    a host *name* such as ``127.example.com`` is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _networks(value: Any) -> list[str]:
    """A list of CIDR networks (``192.168.1.0/24``, ``10.0.0.7``, ``fd00::/8``), normalised."""
    if not isinstance(value, list):
        raise vol.Invalid(f"expected a list of networks such as 192.168.1.0/24, got {value!r}")
    found = []
    for item in value:
        try:
            found.append(str(ipaddress.ip_network(str(item), strict=False)))
        except ValueError:
            raise vol.Invalid(f"not a network (CIDR such as 192.168.1.0/24): {item!r}") from None
    return found


def _file(value: Any) -> str:
    """A path to a readable file."""
    path = str(value)
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise vol.Invalid(f"no readable file {path}")
    return path


def _roles(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and v in ROLES for k, v in value.items()):
        raise vol.Invalid(f"expected a mapping of certificate subject (CN) to role ({', '.join(ROLES)})")
    return dict(value)


@dataclass(frozen=True)
class TlsConfig:
    """``api.tls``: HTTPS/WSS certificate and key, optionally client certificates (mTLS)."""

    cert: str = option(_file, REQUIRED, "PEM certificate (chain) of the API.")
    key: str = option(_file, REQUIRED, "PEM private key of the certificate.")
    client_ca: str | None = option(
        optional(_file), None, "PEM CA(s) of client certificates: set, a client certificate is required."
    )
    client_roles: dict[str, str] = option(
        _roles, {}, "Client certificate subject (CN) -> role, for clients without a key."
    )
    min_version: str = option(one_of("1.2", "1.3"), "1.2", "Lowest TLS version accepted (1.3 is preferred).")


@dataclass(frozen=True)
class ApiKey:
    """``api.keys[]``: a key's owner, its ``sha256:<hex>`` hash and its role."""

    name: str = option(text(), REQUIRED, "Who the key is for.")
    hash: str = option(
        matching(r"^sha256:[0-9a-f]{64}$", "expected sha256:<64 hex digits> (camera-bridge api-key prints one)"),
        REQUIRED,
        "SHA-256 of the key, as printed by `camera-bridge api-key`.",
    )
    role: str = option(vol.In(ROLES), "viewer", "viewer, operator or admin.")
    cameras: list[str] | None = option(
        optional(vol.All([vol.All(str, vol.Length(min=1))], vol.Length(min=1))),
        None,
        "The only cameras the key may see and use (others are 404); `null` = all.",
    )


@dataclass(frozen=True)
class RateLimitConfig:
    """``api.rate_limit``: token bucket per client (requests per second, bucket size) and the
    failed authentications allowed per address per minute."""

    rate: float = option(positive(float), 20.0, "Requests per second allowed per client (token bucket refill).")
    burst: int = option(integer(1, 10000), 40, "Bucket size: requests allowed at once.")
    auth_failures: int = option(
        integer(1, 100000), 10, "Failed authentications allowed per client address per minute (then 429)."
    )


@dataclass(frozen=True)
class ApiConfig:
    """``api:`` section."""

    enabled: bool = option(boolean, True, "Serve the HTTP/WebSocket API.")
    host: str = option(text(), "127.0.0.1", "Listen address.")
    port: int = option(integer(0, 65535), 8765, "Listen TCP port (0 = any free port).")
    auth: str = option(
        one_of("auto", "required", "off", false="off"),
        "auto",
        "`auto`: required unless listening on loopback; `off` is refused on other addresses.",
    )
    jwt_secret: str | None = option(
        optional(text(32)),
        None,
        "HS256 secret for JWT bearer tokens (use `!env NAME`); no JWTs without it.",
        secret=True,
    )
    keys: tuple[ApiKey, ...] = ()
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    max_websockets: int = option(
        integer(1, 10000), 64, "Most WebSocket (JSON-RPC) connections open at once; more are refused with 503."
    )
    max_streams: int = option(
        integer(1, 10000), 64, "Most event (SSE) and MJPEG streams open at once; more are refused with 503."
    )
    tls: TlsConfig | None = None
    allow_networks: list[str] | None = option(
        optional(_networks),
        None,
        "Only clients in these networks (CIDR) may connect (loopback always may); `null` = any.",
    )

    @property
    def loopback(self) -> bool:
        """Whether the API listens on a loopback address only."""
        return is_loopback(self.host)

    @property
    def auth_required(self) -> bool:
        """Whether requests (other than the health probes) must authenticate."""
        return self.auth == "required" or (self.auth == "auto" and not self.loopback)


API_OPTIONS = options_of(ApiConfig)
API_KEY_OPTIONS = options_of(ApiKey)
RATE_LIMIT_OPTIONS = options_of(RateLimitConfig)
TLS_OPTIONS = options_of(TlsConfig)
SECTIONS: Sections = {
    "": Section(API_OPTIONS, ("keys", "rate_limit", "tls")),
    "keys[]": Section(API_KEY_OPTIONS),
    "rate_limit": Section(RATE_LIMIT_OPTIONS),
    "tls": Section(TLS_OPTIONS),
}


#: the API's TLS cipher string: OpenSSL security level 2 (keys of 2048 bits RSA or 224 bits ECC
#: and more, no SHA-1 signatures, forward-secret suites), also where the system default is lower
TLS_CIPHERS = "DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!RC4:@SECLEVEL=2"


def _tls(tls: dict[str, Any] | None) -> dict[str, Any] | None:
    """Refuse a certificate/key pair or client CA that does not load, and client roles without a
    client CA (weak: anyone could claim a subject)."""
    if tls is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(TLS_CIPHERS)  # security level 2 whatever the system's OpenSSL default
    try:
        context.load_cert_chain(tls["cert"], tls["key"])
    except (ssl.SSLError, OSError) as err:
        weak = any(word in str(err) for word in ("too small", "too weak"))
        why = " (weak: RSA/DSA/DH under 2048 bits, ECC under 224 bits or a SHA-1 signature)" if weak else ""
        raise vol.Invalid(f"cannot load the certificate {tls['cert']} with this key{why}: {err}", ["key"]) from None
    if tls["client_ca"] is not None:
        try:
            context.load_verify_locations(tls["client_ca"])
        except (ssl.SSLError, OSError) as err:
            raise vol.Invalid(f"cannot load the client CA {tls['client_ca']}: {err}", ["client_ca"]) from None
    elif tls["client_roles"]:
        raise vol.Invalid("client_roles needs client_ca (certificates must be verified)", ["client_roles"])
    return tls


def _auth(api: dict[str, Any]) -> dict[str, Any]:
    host = api["host"]
    loopback = is_loopback(host)
    if api["auth"] == "off" and not loopback:
        raise vol.Invalid("auth: off is only allowed on a loopback host", ["auth"])
    required = api["auth"] == "required" or (api["auth"] == "auto" and not loopback)
    if api["enabled"] and required and not (api["keys"] or api["jwt_secret"]):
        why = "auth is required off loopback" if not loopback else "api.auth is required"
        raise vol.Invalid(f"listening on {host} needs api.keys or api.jwt_secret ({why})", ["keys"])
    return api


API_SCHEMA = vol.All(
    section_schema(
        API_OPTIONS,
        {
            vol.Optional("keys", default=list): [section_schema(API_KEY_OPTIONS)],
            vol.Optional("rate_limit", default=dict): section_schema(RATE_LIMIT_OPTIONS),
            vol.Optional("tls", default=None): vol.Any(None, vol.All(section_schema(TLS_OPTIONS), _tls)),
        },
    ),
    _auth,
)


def build(valid: dict[str, Any]) -> ApiConfig:
    """An :class:`ApiConfig` from the validated section."""
    api = dict(valid)
    api["keys"] = tuple(ApiKey(**key) for key in api["keys"])
    api["rate_limit"] = RateLimitConfig(**api["rate_limit"])
    api["tls"] = None if api.get("tls") is None else TlsConfig(**api["tls"])
    return ApiConfig(**api)
