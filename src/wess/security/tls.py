"""The server's TLS context: TLS 1.2 or newer, and optionally client certificates (mTLS)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from wess.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsSettings:
    cert_file: Path
    """The server certificate (PEM), followed by any intermediates."""
    key_file: Path
    """The server's private key (PEM, unencrypted)."""
    client_ca_file: Path | None = None
    """When set, every client must present a certificate issued by this CA (mTLS)."""


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    """An ``SSLContext`` for the server; ``ConfigError`` naming any unusable file."""
    _require_readable(settings.cert_file, "tls.cert_file")
    _require_readable(settings.key_file, "tls.key_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"tls: cannot use {settings.cert_file} with {settings.key_file} "
            f"(not PEM, encrypted, or the key does not match the certificate): {exc.reason}"
        ) from None
    if settings.client_ca_file is not None:
        _require_readable(settings.client_ca_file, "tls.client_ca_file")
        try:
            context.load_verify_locations(cafile=settings.client_ca_file)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"tls.client_ca_file {settings.client_ca_file}: no usable CA certificate "
                f"({exc.reason})"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _require_readable(path: Path, name: str) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None
