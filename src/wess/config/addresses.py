"""What the address settings accept: Host names, origins and proxy networks.

Checked when the settings load, so a value that no request could ever match (a URL
where a host name belongs, an origin with a path) stops start-up with its reason
instead of quietly refusing every browser.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

HOST_ENTRY = re.compile(r"^(\*|[a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$", re.IGNORECASE)
"""An ``allowed_hosts`` entry: ``*``, a name or IPv4 address, or ``[IPv6]``; a port or not."""


def check_host_entry(entry: str) -> None:
    """Refuse an ``allowed_hosts`` entry that no ``Host`` header could ever equal."""
    match = HOST_ENTRY.match(entry)
    if match is None or (entry.startswith("*") and match.group(2)):
        raise ValueError(
            f"{entry!r} is not a host name: write name, name:port, [IPv6]:port, or * for any"
        )
    if match.group(2) and not 0 < int(match.group(2)[1:]) <= 65535:
        raise ValueError(f"{entry!r}: the port must be 1 to 65535")


def check_origin(entry: str) -> None:
    """Refuse a ``cors_origins`` entry that is not an origin (scheme, host, port only)."""
    parts = urlsplit(entry)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or "*" in entry
    ):
        raise ValueError(
            f"{entry!r} is not an origin: write scheme://host[:port], e.g. https://app.example"
        )


def check_network(entry: str) -> None:
    """Refuse a ``trusted_proxies`` entry that is neither an address nor a network."""
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(
            f"{entry!r} is not an address or a network (10.0.0.5, 10.0.0.0/8, ::1)"
        ) from None
