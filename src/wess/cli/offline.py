"""Working on a data directory with no server running: the store, its secret and keys.

``wess export``, ``import``, ``backup`` and ``verify`` with ``--data-dir`` open the
store as the server would (the settings' store URL, its keyring, its server secret and
audit key, its anchor) and, to write, a ``Writer`` of their own: an import offline
goes through the same rules and the same audit chain as one online. Before writing,
the audit log must still reach its anchor (as at a server's start); after, the anchor
records the new head, as a server does when it stops. RocksDB lets one process hold a
directory: while a server runs on it, opening fails, and the command says so.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from wess.config import Settings
from wess.observability.logging import configure_logging
from wess.observability.metrics import Metrics
from wess.security.anchor import AnchorFile
from wess.security.audit import AUDIT_KEY_LABEL, Anchor, AuditKey
from wess.security.crypto import Keyring
from wess.server.parts import (
    anchor_file,
    keyring_of,
    namespace_quotas,
    secret_path,
    server_secret,
)
from wess.storage import Store, open_store
from wess.workers.anchoring import check_anchor
from wess.workers.rechaining import rechain_unkeyed
from wess.workers.writer import Writer


def local_actor() -> str:
    """Who an offline command acts as, in the audit log: the local user."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"


@dataclass(frozen=True, slots=True)
class Offline:
    settings: Settings
    store: Store
    audit_key: AuditKey
    anchors: AnchorFile | None
    keyring: Keyring | None
    secret_file: Path


@asynccontextmanager
async def offline(chosen: Settings) -> AsyncIterator[Offline]:
    """The store ``chosen`` names, opened for the block (created if new). Logs go to
    standard error, warnings and worse only: standard output is the command's."""
    configure_logging(level="warning", format=chosen.logging.format)
    secret = server_secret(chosen)
    keyring = keyring_of(chosen)
    key = AuditKey(secret.derive(AUDIT_KEY_LABEL))
    async with open_store(chosen.database.effective_url, keyring=keyring) as store:
        yield Offline(chosen, store, key, anchor_file(chosen, key), keyring, secret_path(chosen))


@asynccontextmanager
async def writing(session: Offline) -> AsyncIterator[Writer]:
    """A Writer over the offline store, after the checks a server makes at start-up;
    the audit log's head is anchored when it stops."""
    store = session.store
    if session.anchors is not None:
        await check_anchor(store.audit, session.anchors)
    await rechain_unkeyed(store.audit, store.commit, session.audit_key)
    writer = Writer(
        store,
        metrics=Metrics(),
        audit_key=session.audit_key,
        quotas=namespace_quotas(session.settings),
    )
    async with writer:
        yield writer
    head = writer.audit_head
    if session.anchors is not None and head is not None:
        await asyncio.to_thread(session.anchors.write, Anchor(head.seq, head.hash))
