"""The audit log's anchor: its head (sequence number and hash), kept outside the store.

A chain verifies only as far as it goes: cutting entries off its end leaves a shorter,
valid chain. The anchor file names the head the server last recorded; ``verify`` then
requires the chain to reach it with the same hash. The file is MACed with the audit key,
so it cannot be rewritten to match a truncated log without the server secret; by default
it sits in the data directory, and ``security.audit_anchor_file`` can put it on another
volume (one the store's administrators cannot write).

    {"format": "wess-audit-anchor/1", "seq": 42, "hash": "<hex>", "mac": "<hex>"}
"""

from __future__ import annotations

import json
from pathlib import Path

from wess.errors import IntegrityError
from wess.files import write_file
from wess.security.audit import Anchor, AuditKey

FORMAT = "wess-audit-anchor/1"


def _signed(anchor: Anchor) -> bytes:
    return f"{FORMAT}\x00{anchor.seq}\x00{anchor.hash}".encode()


class AnchorFile:
    """Reads and writes the anchor at ``path`` under ``key``."""

    def __init__(self, path: Path, key: AuditKey) -> None:
        self.path = path
        self._key = key

    def read(self) -> Anchor | None:
        """The recorded head; None before the first record. ``IntegrityError`` when the
        file is not one this key wrote (altered, or written under another secret)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"the audit anchor {self.path} cannot be read: {exc}") from exc
        try:
            document = json.loads(text)
            anchor = Anchor(seq=int(document["seq"]), hash=str(document["hash"]))
            mac = str(document["mac"])
            known = document["format"] == FORMAT
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"the audit anchor {self.path} is malformed: {exc!r}") from exc
        if not known or mac != self._key.mac(_signed(anchor)):
            raise IntegrityError(
                f"the audit anchor {self.path} does not carry this server's MAC: it was "
                "altered, or written under another server secret"
            )
        return anchor

    def write(self, anchor: Anchor) -> None:
        """Record ``anchor``, whole or not at all, synced (``wess.files.write_file``)."""
        document = {
            "format": FORMAT,
            "seq": anchor.seq,
            "hash": anchor.hash,
            "mac": self._key.mac(_signed(anchor)),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_file(self.path, json.dumps(document).encode(), mode=0o600)
