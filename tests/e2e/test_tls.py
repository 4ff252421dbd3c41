"""HTTPS end to end: a real `wess serve` with throwaway certificates."""

from __future__ import annotations

import socket
import ssl
import warnings

import httpx
import pytest

from tests.security.certs import CertificateAuthority
from tests.support import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def pki(tmp_path):
    ca = CertificateAuthority(tmp_path)
    return ca, ca.issue("localhost", server=True), ca.issue("client", server=False)


def tls_server(tmp_path, pki, *, mtls: bool) -> ServerProcess:
    ca, server_cert, client_cert = pki
    env = {"WESS_TLS_CERT_FILE": str(server_cert.cert), "WESS_TLS_KEY_FILE": str(server_cert.key)}
    if mtls:
        env["WESS_TLS_CLIENT_CA_FILE"] = str(ca.files.cert)
    return ServerProcess(
        data_dir=tmp_path / "data",
        log_path=tmp_path / "wess.log",
        env=env,
        ca_file=ca.files.cert,
        client_cert=(client_cert.cert, client_cert.key) if mtls else None,
    ).start()


def test_https_serves_with_hsts_and_refuses_plain_http(tmp_path, pki):
    """With a certificate Wess speaks only TLS, and says so with Strict-Transport-Security."""
    server = tls_server(tmp_path, pki, mtls=False)
    try:
        with server.client() as client:
            response = client.get("/v1/modules")
            assert response.status_code == 200
            assert "max-age=" in response.headers["strict-transport-security"]
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
    finally:
        assert server.stop() == 0


def test_tls_below_1_2_is_refused(tmp_path, pki):
    """A client that offers only TLS 1.1 gets no connection."""
    server = tls_server(tmp_path, pki, mtls=False)
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(server.ca_file)
        with warnings.catch_warnings():  # an outdated client, on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("ALL:@SECLEVEL=0")
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
            pytest.raises(ssl.SSLError),
        ):
            context.wrap_socket(raw, server_hostname="localhost").do_handshake()
    finally:
        assert server.stop() == 0


def test_mtls_requires_a_client_certificate_from_the_ca(tmp_path, pki):
    """With a client CA, a client with its certificate gets in; one without does not."""
    server = tls_server(tmp_path, pki, mtls=True)
    try:
        with server.client() as client:
            assert client.get("/v1/modules").status_code == 200
        verify = ssl.create_default_context(cafile=str(server.ca_file))
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{server.url}/healthz", verify=verify, timeout=5)
    finally:
        assert server.stop() == 0
