"""The configuration's sections: frozen, validated pydantic models with documented defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

from wess.config import resilience
from wess.config.addresses import check_host_entry, check_network, check_origin
from wess.config.commands import CommandsSettings
from wess.config.components import ComponentSettings
from wess.config.functions import BatchSettings, InvocationsSettings, KvSettings
from wess.config.logs import LoggingSettings
from wess.config.modules import ModulesSettings
from wess.config.operating import BackupSettings, MetricsSettings
from wess.config.protection import (
    AuditSettings,
    AuthSettings,
    QuotasSettings,
    RatelimitSettings,
    SecuritySettings,
    TlsSettings,
)
from wess.config.section import LIMIT, limit_field
from wess.config.section import Section as _Section
from wess.config.sizes import CacheSize, CacheSizeField
from wess.config.tracing import TracingSettings
from wess.runtime.analysis import MAX_EXPORT_NAME, MAX_EXPORTS
from wess.workers.pool import (
    COMPILE_WORKERS,
    MODULE_CALLS_PER_CORE,
    SHARE_OF_POOL,
    THREADS_PER_CORE,
)

SHARED_SCHEMES = frozenset({"postgresql", "postgres"})
"""Storage URL schemes of stores that several processes and nodes share."""
JSON_BYTES_PER_WASM_BYTE = 4
"""Worst case of the legacy form: ``255,`` is four bytes of JSON for one byte of wasm."""
JSON_BODY_SLACK = 64 * 1024
MIN_OPEN_FILES = 20
"""RocksDB raises any smaller max_open_files to 20; refusing it says so."""
MAX_OPEN_FILES = 0x400000
"""RocksDB lowers any larger max_open_files to this (or to the process's file limit)."""


class ServerSettings(_Section):
    RELOADABLE = frozenset(
        {
            "header_timeout",
            "body_timeout",
            "max_connections_per_client",
            "request_timeout_ms",
        }
    )

    host: str = Field(
        "127.0.0.1", min_length=1, description="Address to bind (the original Wess's `address`)."
    )
    port: int = Field(
        8080,
        ge=0,
        le=65535,
        description="TCP port to bind (0: any free port; the log line `wess serving` names it).",
    )
    shutdown_timeout: float = Field(
        10.0, gt=0, le=600, description="Seconds to drain requests and queued writes on stop."
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Server processes sharing the port (`wess serve --workers`); unset: "
        "one per core with a shared store (PostgreSQL), one with the embedded store, "
        "which a single process opens (more is refused). runner.workers sets each "
        "process's invocation threads.",
    )
    allowed_hosts: tuple[str, ...] = Field(
        (),
        description="Names a request's Host may give (`name` on any port, or `name:port`) "
        "besides the bound address, and the localhost names on a loopback bind; `*`: any "
        "(behind a proxy that checks it). Empty on a wildcard bind (0.0.0.0, ::): any. "
        "Others are refused (421). In the environment: comma-separated.",
    )
    cors_origins: tuple[str, ...] = Field(
        (),
        description="Origins (`https://app.example`) whose web pages may call Wess (CORS); "
        "a request from any other page is refused (403), one without Origin (curl, the "
        "CLI) is not concerned. In the environment: comma-separated.",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Addresses or networks (CIDR) of the reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed; empty: those headers are "
        "ignored, the client is the connection's peer. In the environment: comma-separated.",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's headers, from connecting or "
        "from the request's first byte; then the connection is closed.",
    )
    body_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds a request body may stall (no byte arriving while the server "
        "waits for one); then the connection is closed.",
    )
    max_connections_per_client: int = Field(
        128,
        ge=1,
        le=100_000,
        description="Open connections per client address (trusted proxies excepted); "
        "a connection past it is closed at once.",
    )
    request_timeout_ms: int = resilience.REQUEST_TIMEOUT_MS
    watch_config: bool = Field(
        False,
        description="Reload the configuration file when it changes (as on SIGHUP); it "
        "is watched with its directory, so an editor's or a Kubernetes ConfigMap's swap "
        "of the file is seen (docs/operations.md, Reloading the configuration).",
    )

    node_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="This node's name in /readyz, logs, the X-Wess-Node header and "
        "GET /v1/cluster/nodes; unset: the host name and a random suffix.",
    )

    @field_validator("allowed_hosts", "cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if value is None:  # an empty environment variable
            return ()
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            check_host_entry(entry)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            check_origin(entry)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            check_network(entry)
        return value


class DatabaseSettings(_Section):
    RELOADABLE = frozenset(
        {
            "retry_attempts",
            "retry_initial_ms",
            "retry_max_ms",
            "retry_budget_ms",
            "breaker_failures",
            "breaker_cooldown",
        }
    )

    path: Path = Field(Path("./data"), description="Directory of the embedded RocksDB store.")
    url: str | None = Field(
        None,
        description="Storage URL: memory://, rocksdb:///path, or postgresql://user@host/db "
        "(`?schema=name` for a schema of its own), the store several processes and nodes "
        "share (docs/scaling.md); unset: RocksDB at path.",
    )
    db: Literal["rocksdb"] | None = Field(
        None,
        description='Storage engine, as the original Wess names it: only "rocksdb" '
        "(unset: from url).",
    )
    stage: str | None = Field(
        None,
        description="Accepted from the original Wess, which read it and never used it "
        "(its server always opened ./rocksdb/prod): no effect.",
    )
    max_open_files: int | None = Field(
        None,
        ge=MIN_OPEN_FILES,
        le=MAX_OPEN_FILES,
        description="Files RocksDB keeps open at once (its max_open_files); unset: no limit.",
    )
    retry_attempts: int = resilience.RETRY_ATTEMPTS
    retry_initial_ms: int = resilience.RETRY_INITIAL_MS
    retry_max_ms: int = resilience.RETRY_MAX_MS
    retry_budget_ms: int = resilience.RETRY_BUDGET_MS
    breaker_failures: int = resilience.STORAGE_BREAKER_FAILURES
    breaker_cooldown: float = resilience.STORAGE_BREAKER_COOLDOWN
    max_reads: int = resilience.MAX_READS

    @field_validator("db", mode="before")
    @classmethod
    def _only_rocksdb(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and value.lower() == "rocksdb"):
            return None if value is None else "rocksdb"
        raise ValueError(
            f'{value!r} is not a storage engine Wess has: it stores modules in RocksDB, "rocksdb" '
            '(database.url = "memory://" keeps them in memory, for tests)'
        )

    @model_validator(mode="after")
    def _consistent(self) -> DatabaseSettings:
        scheme = urlsplit(self.url).scheme if self.url else "rocksdb"
        if self.db is not None and scheme != self.db:
            raise ValueError(f'db = "{self.db}" disagrees with url = "{self.url}": set one')
        if self.max_open_files is not None and scheme != "rocksdb":
            raise ValueError(f'max_open_files applies to RocksDB, and url is "{self.url}"')
        if self.max_open_files is not None and urlsplit(self.url or "").query:
            raise ValueError("max_open_files is set both here and in url: set one")
        return self

    @property
    def shared(self) -> bool:
        """Whether several processes and nodes may open the store at once."""
        return urlsplit(self.effective_url).scheme in SHARED_SCHEMES

    @property
    def effective_url(self) -> str:
        url = self.url or f"rocksdb:{quote(str(self.path))}"
        return url if self.max_open_files is None else f"{url}?max_open_files={self.max_open_files}"


class ReaderSettings(_Section):
    RELOADABLE = frozenset({"cache_size", "ttl"})

    cache_size: CacheSizeField = Field(
        CacheSize(max_bytes=64 << 20),
        description="What the Reader's module cache holds: a byte budget with a unit, or a "
        "number of modules as in the original Wess (see Cache sizes); 0 disables it.",
    )
    channel_size: int = Field(
        1024,
        ge=1,
        le=1_000_000,
        description="Module reads from the store (the Reader's cache misses) waiting or "
        "running before 503.",
    )
    ttl: float = Field(300.0, gt=0, description="Seconds a cached module stays valid.")


class WriterSettings(_Section):
    RELOADABLE = frozenset()

    channel_size: int = Field(1024, ge=1, le=1_000_000, description="Bound of the write queue.")
    max_batch: int = Field(256, ge=1, le=10_000, description="Most jobs per group commit.")
    commit_timeout_ms: int = Field(
        1000,
        ge=0,
        le=3_600_000,
        description="Longest a group commit may take before storage counts as stalled, "
        "ms: the writes waiting behind it are then refused at once (503 storage_timeout, "
        "applied false), those storage holds are answered 503 storage_timeout with "
        "applied unknown (they land if storage answers), and new writes are refused "
        "until the commit returns (0: wait as long as storage takes).",
    )


class RunnerSettings(_Section):
    RELOADABLE = frozenset({"timeout", "max_memory", "fuel", "cache_size", "breaker_cooldown"})

    timeout: int = limit_field("timeout_ms")
    max_memory: int = limit_field("max_memory")
    fuel: int | None = limit_field("fuel")
    workers: int = Field(
        0,
        ge=0,
        le=256,
        description=f"Invocation threads (0: {THREADS_PER_CORE} per core, so one module "
        "using every core still leaves threads for others).",
    )
    module_concurrency: int = Field(
        0,
        ge=0,
        le=256,
        description=f"Calls of one module running at once (0: {MODULE_CALLS_PER_CORE} per "
        "core, at most runner.workers).",
    )
    module_queue: int = Field(
        64, ge=0, le=100_000, description="Calls of one module waiting for a slot before 503."
    )
    inline_fuel: int = Field(
        100_000,
        ge=0,
        description="Fuel budget of the inline lane: calls that finish "
        "within it run on the event loop, others move to the pool (0: always the pool).",
    )
    channel_size: int = Field(
        256, ge=1, le=100_000, description="Invocations waiting or running before 503."
    )
    cache_size: CacheSizeField = Field(
        CacheSize(max_bytes=64 << 20),
        description="What the compiled-module cache holds: a byte budget with a unit, or a "
        "number of modules (see Cache sizes). The default keeps a server that invoked "
        "10,000 distinct modules under 300 MB of RSS.",
    )
    prewarm: int = Field(
        32,
        ge=0,
        le=10_000,
        description="Most-invoked modules whose AOT artifacts load at start-up, "
        "in the background (0: none).",
    )
    namespace_concurrency: int = Field(
        0,
        ge=0,
        le=256,
        description=f"Calls of one namespace running at once (0: 1/{SHARE_OF_POOL} of "
        "runner.workers, at least 1), even when no other namespace is calling, so the "
        "others always find threads free (see docs/security.md, Fair sharing).",
    )
    namespace_queue: int = Field(
        64,
        ge=0,
        le=100_000,
        description="Calls of one namespace waiting (for a compile, a module's slot or a "
        "thread) beyond runner.namespace_concurrency before 503 namespace_busy.",
    )
    breaker_failures: int = resilience.MODULE_BREAKER_FAILURES
    breaker_cooldown: float = resilience.MODULE_BREAKER_COOLDOWN


class LimitsSettings(_Section):
    RELOADABLE = frozenset({"max_table_elements", "max_instances", "max_output", "max_args"})

    max_module_size: int = Field(
        2 << 20, ge=1024, le=64 << 20, description="Largest accepted module, bytes (413 past it)."
    )
    max_args: int = Field(10, ge=0, le=1000, description="Most arguments per call.")
    max_stack: int = Field(
        512 << 10, ge=64 << 10, le=64 << 20, description="Wasm stack per call, bytes."
    )
    max_table_elements: int = limit_field("max_table_elements")
    max_instances: int = limit_field("max_instances")
    max_output: int = limit_field("max_output")
    max_page_size: int = Field(1000, ge=1, le=100_000, description="Largest listing page.")
    compile_cpu_seconds: int = Field(
        5, ge=1, le=3600, description="CPU time one compile of a module may use, s (422 past it)."
    )
    compile_memory: int = Field(
        1 << 30,
        ge=16 << 20,
        le=64 << 30,
        description="Memory one compile may add to its worker process, bytes (422 past it).",
    )
    max_exports: int = Field(
        MAX_EXPORTS,
        ge=1,
        le=100_000,
        description="Most exports a module may have, of every kind (422 past it).",
    )
    max_export_name: int = Field(
        MAX_EXPORT_NAME,
        ge=1,
        le=65_536,
        description="Longest export name, characters; names are printable, without "
        "control characters (422 otherwise).",
    )
    max_page_bytes: int = Field(
        1 << 20,
        ge=1024,
        le=256 << 20,
        description="Largest listing page, bytes of JSON: a page ends early, with a "
        "next_cursor, rather than grow past it (an item is never cut).",
    )
    compile_workers: int = Field(
        COMPILE_WORKERS,
        ge=1,
        le=64,
        description="Compile worker processes (each may use limits.compile_memory): "
        "compiles of uploads, and of stored modules without an artifact, run at once up "
        "to this many.",
    )
    namespace_compiles: int = Field(
        0,
        ge=0,
        le=64,
        description=f"Compiles of one namespace running at once (0: 1/{SHARE_OF_POOL} of "
        "limits.compile_workers, at least 1), even when no other namespace is uploading.",
    )
    namespace_compile_queue: int = Field(
        64,
        ge=0,
        le=100_000,
        description="Compiles of one namespace waiting beyond limits.namespace_compiles "
        "before 503 namespace_busy.",
    )
    compile_queue: int = resilience.COMPILE_QUEUE
    clock_resolution_ms: int = Field(
        1,
        ge=1,
        le=1000,
        description="Resolution of the clocks a guest reads through WASI (realtime and "
        "monotonic, rounded down to a multiple of it; the CPU-time clocks are refused), ms: "
        "coarse clocks blunt timing side channels (see docs/security.md).",
    )

    @property
    def max_json_body(self) -> int:
        """The JSON upload forms must fit a full-size module in their encoding."""
        return self.max_module_size * JSON_BYTES_PER_WASM_BYTE + JSON_BODY_SLACK


class Settings(_Section):
    """The whole validated configuration."""

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    reader: ReaderSettings = ReaderSettings()
    writer: WriterSettings = WriterSettings()
    runner: RunnerSettings = RunnerSettings()
    limits: LimitsSettings = LimitsSettings()
    logging: LoggingSettings = LoggingSettings()
    auth: AuthSettings = AuthSettings()
    ratelimit: RatelimitSettings = RatelimitSettings()
    security: SecuritySettings = SecuritySettings()
    tls: TlsSettings = TlsSettings()
    quotas: QuotasSettings = QuotasSettings()
    audit: AuditSettings = AuditSettings()
    metrics: MetricsSettings = MetricsSettings()
    backup: BackupSettings = BackupSettings()
    modules: ModulesSettings = ModulesSettings()
    tracing: TracingSettings = TracingSettings()
    commands: CommandsSettings = CommandsSettings()
    batch: BatchSettings = BatchSettings()
    invocations: InvocationsSettings = InvocationsSettings()
    kv: KvSettings = KvSettings()
    components: ComponentSettings = ComponentSettings()

    @property
    def max_upload_size(self) -> int:
        """The largest upload of either kind, module or component: what the upload
        routes read (the service then holds each kind to its own limit)."""
        return max(self.limits.max_module_size, self.components.max_size)

    @property
    def max_upload_json_body(self) -> int:
        """The JSON upload forms must fit a full-size upload in their encoding."""
        return self.max_upload_size * JSON_BYTES_PER_WASM_BYTE + JSON_BODY_SLACK

    @property
    def sandbox_limits(self) -> dict[str, int | None]:
        """Every configured sandbox limit by its name in ``wess.runtime.limits``."""
        return {name: getattr(getattr(self, s), key) for name, (s, key) in LIMIT_KEYS.items()}


SECTIONS: dict[str, type[_Section]] = {
    name: info.annotation  # type: ignore[misc]
    for name, info in Settings.model_fields.items()
}


def _limit_keys() -> dict[str, tuple[str, str]]:
    keys: dict[str, tuple[str, str]] = {}
    for section, model in SECTIONS.items():
        for key, info in model.model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and LIMIT in extra:
                keys[str(extra[LIMIT])] = (section, key)
    return keys


LIMIT_KEYS: dict[str, tuple[str, str]] = _limit_keys()
"""Sandbox limit name -> (section, key) of the configuration that sets it."""
