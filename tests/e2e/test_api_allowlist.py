"""``api.allow_networks`` against a live bridge reached on a non-loopback address of this
machine: a client outside the networks is refused with 403 before authentication (even with a
valid key, even for the health probe); inside, or on loopback, it is served."""

from __future__ import annotations

import logging
import socket

import aiohttp
import pytest

from bridge.api.allowlist import Allowlist
from bridge.errors import ConfigError

from ..conftest import make_config, running
from .test_api_rpc import KEY_CONFIG, KEYS


def own_address() -> str | None:
    """A non-loopback IPv4 address of this machine (None when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_allowlist_matches_networks_and_always_loopback():
    allow = Allowlist(["192.168.1.0/24", "fd00::/8", "10.0.0.7"])
    assert allow.allows("192.168.1.77") and allow.allows("10.0.0.7") and allow.allows("fd00::2")
    assert allow.allows("127.0.0.1") and allow.allows("::1") and allow.allows("::ffff:192.168.1.5")
    assert not allow.allows("192.168.2.1") and not allow.allows("10.0.0.8") and not allow.allows(None)
    assert not allow.allows("not an address")
    assert Allowlist(None).allows("203.0.113.9")


def test_bad_networks_are_a_config_error(broker, prefix):
    with pytest.raises(ConfigError, match=r"api.allow_networks.*not a network.*192.168.1.0/33"):
        make_config(broker.port, prefix, {}, api={"allow_networks": ["192.168.1.0/33"]})


@pytest.mark.parametrize("allowed", [False, True])
async def test_clients_outside_the_networks_are_refused_before_auth(broker, prefix, caplog, allowed):
    address = own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    networks = [f"{address}/32"] if allowed else ["198.51.100.0/24"]
    config = make_config(broker.port, prefix, {},
                         api={"host": "0.0.0.0", "keys": KEY_CONFIG, "allow_networks": networks})
    caplog.set_level(logging.DEBUG, logger="bridge.api.allowlist")
    async with running(config) as bridge, aiohttp.ClientSession() as http:
        port = bridge.api.port
        for path, headers in (("/health/alive", {}), ("/api/cameras", {"X-API-Key": KEYS["admin"]}),
                              ("/api/cameras", {"X-API-Key": "cb_wrong"})):
            async with http.get(f"http://{address}:{port}{path}", headers=headers) as resp:
                if allowed:
                    assert resp.status in (200, 401), (path, resp.status)
                else:
                    body = await resp.json()
                    assert resp.status == 403 and body["error"] == "network_not_allowed", body
                    assert address in body["message"]
        async with http.get(f"http://127.0.0.1:{port}/api/cameras", headers={"X-API-Key": KEYS["admin"]}) as resp:
            assert resp.status == 200  # loopback always
    refusals = [r for r in caplog.records if "not in api.allow_networks" in r.getMessage()]
    if allowed:
        assert not refusals
    else:
        assert [r.levelno for r in refusals] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
