"""The server TLS context, checked by real handshakes over loopback."""

from __future__ import annotations

import socket
import ssl
import threading
import warnings

import pytest

from tests.security.certs import CertificateAuthority
from wess.errors import ConfigError
from wess.security.tls import TlsSettings, server_context


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA with a server certificate, a client certificate, and a stranger CA's client."""
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory)
    stranger = CertificateAuthority(directory, name="Stranger CA")
    return {
        "ca": ca,
        "server": ca.issue("localhost", server=True),
        "client": ca.issue("client-1", server=False),
        "stranger": stranger.issue("intruder", server=False),
    }


def handshake(server: ssl.SSLContext, client: ssl.SSLContext):
    """Run one handshake on loopback: (server error or peer cert, client error or None)."""
    result: dict[str, object] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            conn.settimeout(5)
            try:
                with server.wrap_socket(conn, server_side=True) as tls:
                    result["server"] = tls.getpeercert()
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                result["server"] = exc

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                client.wrap_socket(raw, server_hostname="localhost") as tls,
            ):
                result["client"] = tls.recv(2)
        except (ssl.SSLError, OSError) as exc:
            result["client"] = exc
        finally:
            thread.join(5)
    return result["server"], result["client"]


def client_context(pki, cert=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"].files.cert)
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    return context


def test_a_tls12_or_newer_client_completes_the_handshake(pki):
    """A client trusting the CA talks to the server over TLS; no client cert is asked for."""
    settings = TlsSettings(cert_file=pki["server"].cert, key_file=pki["server"].key)
    context = server_context(settings)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    server_side, client_side = handshake(context, client_context(pki))
    assert server_side is None
    assert client_side == b"ok"


def test_a_tls11_client_is_refused_by_the_server(pki):
    """A client that offers at most TLS 1.1 fails; the server reports the protocol version."""
    settings = TlsSettings(cert_file=pki["server"].cert, key_file=pki["server"].key)
    client = client_context(pki)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # naming TLS 1.1 is deprecated
        client.minimum_version = ssl.TLSVersion.TLSv1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
    client.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client even try
    server_side, client_side = handshake(server_context(settings), client)
    assert isinstance(server_side, ssl.SSLError)
    assert server_side.reason == "UNSUPPORTED_PROTOCOL"
    assert isinstance(client_side, ssl.SSLError)
    assert "PROTOCOL_VERSION" in client_side.reason  # the server's alert


def test_mtls_accepts_a_client_certificate_from_the_ca(pki):
    """With a client CA configured, a client certificate it issued is accepted and seen."""
    settings = TlsSettings(
        cert_file=pki["server"].cert,
        key_file=pki["server"].key,
        client_ca_file=pki["ca"].files.cert,
    )
    server_side, client_side = handshake(
        server_context(settings), client_context(pki, pki["client"])
    )
    assert client_side == b"ok"
    assert server_side["subject"] == ((("commonName", "client-1"),),)


@pytest.mark.parametrize(
    ("who", "reason"),
    [(None, "PEER_DID_NOT_RETURN_A_CERTIFICATE"), ("stranger", "CERTIFICATE_VERIFY_FAILED")],
)
def test_mtls_refuses_clients_without_a_certificate_from_the_ca(pki, who, reason):
    """With mTLS on, a client without a certificate, or with another CA's, is refused."""
    settings = TlsSettings(
        cert_file=pki["server"].cert,
        key_file=pki["server"].key,
        client_ca_file=pki["ca"].files.cert,
    )
    cert = pki[who] if who else None
    server_side, client_side = handshake(server_context(settings), client_context(pki, cert))
    assert isinstance(server_side, ssl.SSLError)
    assert server_side.reason == reason
    assert isinstance(client_side, (ssl.SSLError, OSError))


def test_missing_or_unusable_files_are_config_errors(pki, tmp_path):
    """An absent file, a key of another certificate or a junk CA file name the setting."""
    server, client = pki["server"], pki["client"]
    with pytest.raises(ConfigError, match=r"tls\.cert_file: cannot read .*nope\.crt"):
        server_context(TlsSettings(cert_file=tmp_path / "nope.crt", key_file=server.key))
    with pytest.raises(ConfigError, match=r"tls\.key_file"):
        server_context(TlsSettings(cert_file=server.cert, key_file=tmp_path / "nope.key"))
    with pytest.raises(ConfigError, match="does not match"):
        server_context(TlsSettings(cert_file=server.cert, key_file=client.key))
    junk = tmp_path / "junk.pem"
    junk.write_text("junk")
    with pytest.raises(ConfigError, match=r"tls\.client_ca_file"):
        server_context(TlsSettings(cert_file=server.cert, key_file=server.key, client_ca_file=junk))
    with pytest.raises(ConfigError, match=r"tls\.client_ca_file"):
        server_context(
            TlsSettings(cert_file=server.cert, key_file=server.key, client_ca_file=tmp_path / "x")
        )
