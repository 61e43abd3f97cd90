"""ONVIF cameras on the local network: WS-Discovery (``WSDiscovery``) finds them, ONVIF Media
(``onvif-zeep-async``, as Home Assistant's ONVIF integration uses) lists their profiles and RTSP
stream URIs.

Used by ``camera-bridge discover``; nothing in the running bridge depends on it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

from .errors import BridgeError

_LOGGER = logging.getLogger(__name__)

#: seconds WS-Discovery listens for answers by default
SEARCH_TIMEOUT = 3.0
#: seconds one ONVIF request may take
REQUEST_TIMEOUT = 10.0
#: the WS-Discovery scope every ONVIF device announces
ONVIF_SCOPE = "onvif://www.onvif.org/Profile"
#: at most this many profiles are read per device (untrusted answers are bounded)
MAX_PROFILES = 16


class DiscoveryError(BridgeError):
    """Raised when an ONVIF device cannot be asked for its streams; the message says why in
    words (connection refused, timeout, 401 wrong credentials, not an ONVIF device)."""


@dataclass(frozen=True)
class Device:
    """An ONVIF device that answered a WS-Discovery probe: its endpoint reference ``epr``, device
    service URLs ``xaddrs``, ``name`` and ``hardware`` from its scopes (None when absent)."""

    epr: str
    xaddrs: tuple[str, ...]
    name: str | None = None
    hardware: str | None = None

    @property
    def host(self) -> str | None:
        """Host of the first device service URL."""
        return urlsplit(self.xaddrs[0]).hostname if self.xaddrs else None

    @property
    def port(self) -> int:
        """Port of the first device service URL (80 when not given)."""
        if not self.xaddrs:
            return 80
        parts = urlsplit(self.xaddrs[0])
        return parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class Stream:
    """One media profile: its ``token`` and ``name``, video ``encoding`` (``H264``...), size in
    pixels (None when the device does not say), and its RTSP ``uri`` (without credentials)."""

    token: str
    name: str
    uri: str
    encoding: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


@dataclass
class DeviceStreams:
    """What ONVIF Media says about a device: ``manufacturer``, ``model`` and its ``streams``
    (largest first: ``streams[0]`` is the main stream, ``streams[-1]`` the sub stream)."""

    manufacturer: str | None = None
    model: str | None = None
    streams: list[Stream] = field(default_factory=list)

    @property
    def main(self) -> Stream | None:
        return self.streams[0] if self.streams else None

    @property
    def sub(self) -> Stream | None:
        return self.streams[-1] if len(self.streams) > 1 else None


def _scope_value(scopes: list[str], kind: str) -> str | None:
    prefix = f"onvif://www.onvif.org/{kind}/"
    for scope in scopes:
        if scope.startswith(prefix):
            from urllib.parse import unquote

            return unquote(scope[len(prefix) :]) or None
    return None


def search(timeout: float = SEARCH_TIMEOUT) -> list[Device]:
    """Send a WS-Discovery probe for ONVIF devices on every network interface and collect the
    answers for ``timeout`` seconds. Blocking (run it in a thread). Sorted by first address."""
    from wsdiscovery.discovery import ThreadedWSDiscovery
    from wsdiscovery.scope import Scope

    discovery = ThreadedWSDiscovery()
    discovery.start()
    try:
        services = discovery.searchServices(scopes=[Scope(ONVIF_SCOPE)], timeout=timeout)
    finally:
        discovery.stop()
    devices = []
    for service in services:
        scopes = [str(scope) for scope in service.getScopes()]
        xaddrs = tuple(x for x in service.getXAddrs() if x.startswith(("http://", "https://")))
        if not xaddrs:
            continue
        devices.append(Device(service.getEPR(), xaddrs, _scope_value(scopes, "name"), _scope_value(scopes, "hardware")))
    return sorted(devices, key=lambda d: d.xaddrs)


def with_credentials(uri: str, user: str | None, password: str | None) -> str:
    """``uri`` with ``user:password@`` put in (percent-encoded); unchanged without a user."""
    if not user:
        return uri
    parts = urlsplit(uri)
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{auth}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _explain(err: BaseException, where: str) -> str:
    """Words for an ONVIF request's failure."""
    from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError
    from zeep.exceptions import Fault, TransportError

    text = str(err)
    if isinstance(err, ONVIFAuthError) or re.search(
        r"NotAuthorized|not authori[sz]ed|401|Sender not Authorized", text[:2000], re.IGNORECASE
    ):
        return f"401 wrong credentials: {where} refused the user name and password"
    if isinstance(err, ONVIFTimeoutError | TimeoutError | asyncio.TimeoutError):
        return f"timeout: no answer from {where} in {REQUEST_TIMEOUT:g} s"
    if isinstance(err, ConnectionRefusedError) or "Connection refused" in text[:2000]:
        return f"connection refused by {where}"
    if isinstance(err, Fault | TransportError | ONVIFError):
        return f"{where} answered, but not as an ONVIF device: {text[:200]}"
    return f"{where}: {type(err).__name__}: {text[:200]}"


async def streams(host: str, port: int, user: str | None, password: str | None) -> DeviceStreams:
    """Ask the ONVIF device at ``host:port`` for its device information and its media profiles
    with their RTSP stream URIs (ONVIF Media, WS-Security digest auth with ``user`` and
    ``password``). Raises :class:`DiscoveryError` (credentials never in its message)."""
    from onvif import ONVIFCamera

    where = f"{host}:{port}"
    camera = ONVIFCamera(host, port, user or "", password or "", adjust_time=True)
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            await camera.update_xaddrs()
            result = DeviceStreams()
            device = await camera.create_devicemgmt_service()
            try:
                info = await device.GetDeviceInformation()
                result.manufacturer, result.model = info.Manufacturer, info.Model
            except Exception as err:  # optional: a device may refuse it and still stream
                _LOGGER.debug("%s: no device information: %s", where, err)
            media = await camera.create_media_service()
            profiles = (await media.GetProfiles() or [])[:MAX_PROFILES]
            for profile in profiles:
                answer = await media.GetStreamUri(
                    {
                        "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                        "ProfileToken": profile.token,
                    }
                )
                encoder = getattr(profile, "VideoEncoderConfiguration", None)
                resolution = getattr(encoder, "Resolution", None) if encoder is not None else None
                result.streams.append(
                    Stream(
                        token=str(profile.token),
                        name=str(profile.Name or profile.token),
                        uri=str(answer.Uri),
                        encoding=str(encoder.Encoding) if encoder is not None and encoder.Encoding else None,
                        width=int(resolution.Width) if resolution is not None else None,
                        height=int(resolution.Height) if resolution is not None else None,
                    )
                )
    except DiscoveryError:
        raise
    except Exception as err:
        raise DiscoveryError(_explain(err, where)) from None
    finally:
        await camera.close()
    result.streams.sort(key=lambda s: s.pixels, reverse=True)
    return result
