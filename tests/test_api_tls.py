"""``api.tls``: HTTPS/WSS with TLS 1.2+, client certificates (mTLS) mapped to roles, weak or
broken settings refused at config time. Certificates are made at test time with
``cryptography``."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import warnings
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from bridge.api import tls as api_tls
from bridge.app import run
from bridge.errors import ConfigError

from .conftest import make_config, running
from .peers import free_port
from .test_api_rpc import KEY_CONFIG, KEYS


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, issuer_key, issuer: str, key, *, ca: bool = False, server: bool = False):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        import ipaddress

        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert, key) -> tuple[str, str]:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


@pytest.fixture
def pki(tmp_path):
    """A CA, a server certificate for 127.0.0.1 and client certificates ``ha`` and ``stranger``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test ca", ca_key, "test ca", ca_key, ca=True)
    ca_pem = tmp_path / "ca.crt"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files = {"ca": str(ca_pem)}
    server_key = ec.generate_private_key(ec.SECP256R1())
    files["cert"], files["key"] = _write(tmp_path / "server", _cert("bridge", ca_key, "test ca", server_key,
                                                                   server=True), server_key)
    for name in ("ha", "stranger"):
        key = ec.generate_private_key(ec.SECP256R1())
        files[f"{name}_cert"], files[f"{name}_key"] = _write(tmp_path / name, _cert(name, ca_key, "test ca", key), key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    files["other_key"] = _write(tmp_path / "other", _cert("x", other_key, "x", other_key), other_key)[1]
    return files


def client_context(pki, who: str | None = None, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"])
    if who is not None:
        context.load_cert_chain(pki[f"{who}_cert"], pki[f"{who}_key"])
    if maximum is not None:
        with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: offered here on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer the old versions
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = maximum
    return context


async def test_https_and_wss_with_tls_1_2_or_newer(broker, prefix, pki):
    config = make_config(broker.port, prefix, {}, api={"auth": "required", "keys": KEY_CONFIG,
                                                       "tls": {"cert": pki["cert"], "key": pki["key"]}})
    async with running(config) as bridge, aiohttp.ClientSession() as http:
        base = f"https://127.0.0.1:{bridge.api.port}"
        only_13 = client_context(pki)
        only_13.minimum_version = ssl.TLSVersion.TLSv1_3  # 1.3 is offered
        async with http.get(f"{base}/health/alive", ssl=only_13) as resp:
            assert resp.status == 200
        async with http.get(f"{base}/api/cameras", headers={"X-API-Key": KEYS["viewer"]},
                            ssl=client_context(pki, maximum=ssl.TLSVersion.TLSv1_2)) as resp:
            assert resp.status == 200
        with pytest.raises(aiohttp.ClientError):  # TLS 1.1 is refused
            async with http.get(f"{base}/health/alive", ssl=client_context(pki, maximum=ssl.TLSVersion.TLSv1_1)):
                pass
        with pytest.raises(aiohttp.ClientError):  # plain HTTP gets no HTTP answer
            async with http.get(f"http://127.0.0.1:{bridge.api.port}/health/alive"):
                pass
        async with http.ws_connect(f"wss://127.0.0.1:{bridge.api.port}/ws", ssl=client_context(pki),
                                   headers={"X-API-Key": KEYS["viewer"]}) as ws:
            await ws.send_json({"jsonrpc": "2.0", "method": "cameras.list", "id": 1})
            assert (await ws.receive_json(timeout=5))["result"] == {"cameras": []}


async def test_client_certificates_are_required_and_map_to_roles(broker, prefix, pki):
    tls = {"cert": pki["cert"], "key": pki["key"], "client_ca": pki["ca"], "client_roles": {"ha": "operator"}}
    config = make_config(broker.port, prefix, {}, api={"auth": "required", "keys": KEY_CONFIG, "tls": tls})
    async with running(config) as bridge, aiohttp.ClientSession() as http:
        base = f"https://127.0.0.1:{bridge.api.port}"
        with pytest.raises(aiohttp.ClientError):  # no client certificate: no connection
            async with http.get(f"{base}/health/alive", ssl=client_context(pki)) as resp:
                await resp.read()
        ha = client_context(pki, "ha")
        async with http.get(f"{base}/api/cameras", ssl=ha) as resp:  # the certificate is the credential
            assert resp.status == 200
        async with http.post(f"{base}/api/cameras", json={"id": "x", "url": "rtsp://192.0.2.1/x"}, ssl=ha) as resp:
            assert resp.status == 403  # operator, not admin
        stranger = client_context(pki, "stranger")  # verified, but no role: needs a key as well
        async with http.get(f"{base}/api/cameras", ssl=stranger) as resp:
            assert resp.status == 401
        async with http.get(f"{base}/api/cameras", ssl=stranger, headers={"X-API-Key": KEYS["admin"]}) as resp:
            assert resp.status == 200


def test_weak_or_broken_tls_settings_are_refused_with_the_key_path(broker, prefix, pki, tmp_path):
    def refused(tls, words):
        with pytest.raises(ConfigError) as err:
            make_config(broker.port, prefix, {}, api={"tls": tls})
        assert words in str(err.value), str(err.value)

    base = {"cert": pki["cert"], "key": pki["key"]}
    refused({**base, "min_version": "1.1"}, "api.tls.min_version")
    refused({**base, "key": str(tmp_path / "missing.key")}, "api.tls.key")
    refused({**base, "key": pki["other_key"]}, "api.tls.key")
    refused({**base, "client_roles": {"ha": "viewer"}}, "api.tls.client_roles")
    refused({**base, "client_ca": pki["ca"], "client_roles": {"ha": "root"}}, "api.tls.client_roles")
    weak_key = rsa.generate_private_key(65537, 1024)  # under security level 2
    weak = _write(tmp_path / "weak", _cert("bridge", weak_key, "bridge", weak_key, server=True), weak_key)
    refused({"cert": weak[0], "key": weak[1]}, "api.tls.key: cannot load the certificate")
    refused({"cert": weak[0], "key": weak[1]}, "weak")
    assert make_config(broker.port, prefix, {}, api={"tls": base}).api.tls.min_version == "1.2"


async def test_a_changed_certificate_file_is_served_without_a_restart(broker, prefix, pki, tmp_path, monkeypatch):
    monkeypatch.setattr(api_tls, "RELOAD_CHECK", 0.1)
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    cert.write_bytes(Path(pki["cert"]).read_bytes())
    key.write_bytes(Path(pki["key"]).read_bytes())
    config = make_config(broker.port, prefix, {}, api={"tls": {"cert": str(cert), "key": str(key)}})
    async with running(config) as bridge:
        port = bridge.api.port

        def served_serial() -> int:
            pem = ssl.get_server_certificate(("127.0.0.1", port))
            return x509.load_pem_x509_certificate(pem.encode()).serial_number

        first = await asyncio.to_thread(served_serial)
        ca_key = serialization.load_pem_private_key(Path(pki["key"]).read_bytes(), None)  # any key will do
        new_key = ec.generate_private_key(ec.SECP256R1())
        new_cert = _cert("bridge", ca_key, "test ca", new_key, server=True)
        key.write_bytes(new_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        cert.write_bytes(new_cert.public_bytes(serialization.Encoding.PEM))
        deadline = asyncio.get_running_loop().time() + 10
        while await asyncio.to_thread(served_serial) == first:
            assert asyncio.get_running_loop().time() < deadline, "the new certificate was not served"
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(served_serial) == new_cert.serial_number


async def test_sighup_serves_a_renewed_certificate_without_a_restart(broker, prefix, pki, tmp_path, monkeypatch,
                                                                     caplog):
    """SIGHUP (``run``'s hangup, as the signal handler sets it) loads the files again at once,
    also when the file watch would not see the change yet; a broken pair keeps the old one."""
    monkeypatch.setattr(api_tls, "RELOAD_CHECK", 3600)  # only SIGHUP can reload here
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    cert.write_bytes(Path(pki["cert"]).read_bytes())
    key.write_bytes(Path(pki["key"]).read_bytes())
    port = free_port()
    config = make_config(broker.port, prefix, {}, api={"port": port, "tls": {"cert": str(cert), "key": str(key)}})
    stop, hangup = asyncio.Event(), asyncio.Event()
    runner = asyncio.create_task(run(config, stop, hangup=hangup))

    def served_serial() -> int:
        pem = ssl.get_server_certificate(("127.0.0.1", port))
        return x509.load_pem_x509_certificate(pem.encode()).serial_number

    async def serial_after(check) -> int:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                found = await asyncio.to_thread(served_serial)
                if check(found):
                    return found
            except OSError:  # not listening yet
                pass
            assert asyncio.get_running_loop().time() < deadline, "not served in time"
            await asyncio.sleep(0.1)

    try:
        first = await serial_after(lambda s: True)
        ca_key = serialization.load_pem_private_key(Path(pki["key"]).read_bytes(), None)
        new_key = ec.generate_private_key(ec.SECP256R1())
        new_cert = _cert("bridge", ca_key, "test ca", new_key, server=True)
        key.write_bytes(new_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        cert.write_bytes(new_cert.public_bytes(serialization.Encoding.PEM))
        assert await asyncio.to_thread(served_serial) == first  # no watch, no SIGHUP: the old one
        hangup.set()
        assert await serial_after(lambda s: s != first) == new_cert.serial_number
        key.write_bytes(Path(pki["other_key"]).read_bytes())  # a key not matching the certificate
        hangup.set()
        deadline = asyncio.get_running_loop().time() + 30
        while "does not load (SIGHUP" not in caplog.text:
            assert asyncio.get_running_loop().time() < deadline, "the broken pair was not noticed"
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(served_serial) == new_cert.serial_number
    finally:
        stop.set()
        await asyncio.wait_for(runner, 60)
