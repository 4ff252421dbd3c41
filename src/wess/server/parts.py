"""What the settings describe, built from them: the runtime's limits and configuration,
where the data, the secret, the anchor and the backups live, the node's identity,
quotas, the keyring, the compiler, and the bounds of invocations and key-value state.
Pure functions of ``Settings`` (and the files they name), shared by the server and the
offline commands."""

from __future__ import annotations

import secrets
import socket
from datetime import datetime
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

import wess
from wess.config import Settings
from wess.invocations import InvocationSettings
from wess.models import NodeInfo
from wess.ops.backups import Backups
from wess.runtime import Limits, Runtime, RuntimeConfig
from wess.runtime.isolated import IsolatedCompiler
from wess.security.anchor import AnchorFile
from wess.security.audit import AuditKey
from wess.security.crypto import Keyring
from wess.security.keyfiles import load_keyring
from wess.security.secrets import SECRET_BYTES, SECRET_FILE, ServerSecret
from wess.workers.kv import KvLimits
from wess.workers.quotas import NamespaceQuotas, Quota

ANCHOR_FILE = "audit.anchor"
BACKUPS_SUFFIX = "-backups"


def runtime_limits(settings: Settings) -> Limits:
    """The configured sandbox limits of every call (requests may only lower them)."""
    return Limits.from_values(settings.sandbox_limits)


def runtime_config(settings: Settings) -> RuntimeConfig:
    return RuntimeConfig(
        max_wasm_stack=settings.limits.max_stack,
        cache_bytes=settings.runner.cache_size.max_bytes,
        cache_entries=settings.runner.cache_size.max_entries,
        clock_resolution_ns=settings.limits.clock_resolution_ms * 1_000_000,
        max_module_bytes=max(RuntimeConfig().max_module_bytes, settings.max_upload_size),
        max_component_instances=settings.components.max_instances,
    )


def data_dir(settings: Settings) -> Path:
    """Where Wess keeps its files: the RocksDB directory (else ``database.path``)."""
    url = urlsplit(settings.database.effective_url)
    return Path(unquote(url.path)) if url.scheme == "rocksdb" else settings.database.path


def durable(settings: Settings) -> bool:
    """Whether the store keeps anything across restarts (memory:// does not). The files
    beside a durable store (server secret, audit anchor, admin token) live in the data
    directory: the RocksDB directory, or ``database.path`` for a shared store (every
    node of which must hold the same server secret: ``security.secret_file``)."""
    return urlsplit(settings.database.effective_url).scheme != "memory"


def secret_path(settings: Settings) -> Path:
    """Where the server secret of a durable store is kept."""
    return settings.security.secret_file or data_dir(settings) / SECRET_FILE


def backup_dir(settings: Settings) -> Path:
    """Where backups go: ``backup.dir``, else ``<data dir>-backups`` beside it."""
    if settings.backup.dir is not None:
        return settings.backup.dir
    data = data_dir(settings)
    return data.with_name(data.name + BACKUPS_SUFFIX)


def backups_of(settings: Settings) -> Backups:
    """The backups of the store these settings name (kept in ``backup_dir``), opened
    with the key-encryption keys as the key files hold them when each is taken."""
    return Backups(
        backup_dir(settings), keyring=partial(keyring_of, settings), wess_version=wess.__version__
    )


def server_secret(settings: Settings) -> ServerSecret:
    """The server secret: ``security.secret_file``, else kept beside the data (in the
    RocksDB directory). A memory:// store keeps nothing across restarts, so it gets a
    throwaway secret."""
    if durable(settings):
        path = secret_path(settings)
        return ServerSecret.load_or_create(path.parent, name=path.name)
    return ServerSecret(secrets.token_bytes(SECRET_BYTES))


def node_of(settings: Settings, *, now: datetime) -> NodeInfo:
    """This process as the other nodes and operators see it."""
    node_id = settings.server.node_id or f"{socket.gethostname()}-{secrets.token_hex(3)}"
    return NodeInfo(
        id=node_id,
        address=f"{settings.server.host}:{settings.server.port}",
        version=wess.__version__,
        started_at=now,
        last_seen=now,
    )


def anchor_file(settings: Settings, key: AuditKey) -> AnchorFile | None:
    """Where the audit log's head is recorded; None for a store that keeps nothing."""
    if not durable(settings):
        return None
    return AnchorFile(settings.audit.anchor_file or data_dir(settings) / ANCHOR_FILE, key)


def namespace_quotas(settings: Settings) -> NamespaceQuotas | None:
    """The per-namespace quotas; None when there are none (the Writer then skips
    counting every namespace's usage at start-up)."""
    quotas = settings.quotas
    if quotas.max_modules is None and quotas.max_bytes is None:
        return None
    return NamespaceQuotas(
        default=Quota(max_modules=quotas.max_modules, max_bytes=quotas.max_bytes)
    )


def keyring_of(settings: Settings) -> Keyring | None:
    """The key-encryption keys, when encryption at rest is on."""
    path = settings.security.encryption_key_file
    return load_keyring(path) if path is not None else None


def isolated_compiler(settings: Settings, runtime: Runtime) -> IsolatedCompiler:
    """Compile worker processes for ``runtime``'s engine, under the configured caps."""
    return IsolatedCompiler(
        runtime.config,
        cpu_seconds=settings.limits.compile_cpu_seconds,
        memory_bytes=settings.limits.compile_memory,
        component_cpu_seconds=settings.components.compile_cpu_seconds,
        component_memory_bytes=settings.components.compile_memory,
        processes=settings.limits.compile_workers,
    )


def invocation_settings(settings: Settings) -> InvocationSettings:
    """The asynchronous invocations' worker as configured (``invocations.*``)."""
    section = settings.invocations
    return InvocationSettings(
        retention=section.retention,
        lease=section.lease,
        poll=section.poll,
        backoff_initial=section.backoff_initial,
        backoff_max=section.backoff_max,
        concurrency=section.concurrency,
        max_attempts=section.max_attempts,
    )


def kv_limits(settings: Settings) -> KvLimits:
    """The bounds of the guests' key-value state (``kv.*``)."""
    section = settings.kv
    return KvLimits(
        max_key=section.max_key_bytes,
        max_value=section.max_value_bytes,
        max_namespace=section.max_namespace_bytes,
        max_list=section.max_list,
        call_timeout=section.call_timeout_ms / 1000,
    )
