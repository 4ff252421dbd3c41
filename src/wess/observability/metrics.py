"""Prometheus metrics, one registry per ``Metrics`` object (no global state).

The composition root builds one ``Metrics`` and passes it to the components that
record; tests build their own and read the values back. Beside Wess's own names it
exports the original Wess's (``wess_http_request_latency_seconds``,
``wess_database_operations_total{operation}``, ``wess_cpu_usage`` ...), so dashboards of
both generations work; families that are sums of others are computed at scrape time
(``derived``, ``invocations``), and so are process and disk figures (``process``).

Every label value is bounded: route templates (never raw paths), error codes, queue,
cache, pool and trap-kind names; module ids and function names only for the modules
of ``metrics.per_module``.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from wess.observability.derived import DerivedFamilies
from wess.observability.invocations import InvocationFamilies, InvocationMetrics
from wess.observability.process import CpuUsage, resident_bytes

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

CONTENT_TYPE = CONTENT_TYPE_LATEST
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
"""The values of ``wess_breaker_state``."""


def build_labels() -> dict[str, str]:
    """The versions ``wess_build_info`` reports."""
    return {
        "version": _version("wess"),
        "wasmtime": _version("wasmtime"),
        "python": platform.python_version(),
    }


class Metrics:
    """Every metric Wess exports. Names start with ``wess_`` (the process's own:
    ``process_``, ``python_``). ``per_module`` lists the module ids or names whose calls
    get series of their own (``metrics.per_module``)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        per_module: Iterable[str] = (),
        cpu: CpuUsage | None = None,
        memory: Callable[[], float] = resident_bytes,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # HTTP
        self.http_requests = Counter(
            "wess_http_requests_total",
            "HTTP requests by route template and status; path is the route template too "
            "(the original Wess's label).",
            ["method", "route", "status", "path"],
            registry=r,
        )
        self.http_latency = Histogram(
            "wess_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "wess_errors_total", "Errors answered, by stable error code.", ["code"], registry=r
        )
        # storage
        self.storage_ops = Counter(
            "wess_storage_operations_total",
            "Storage operations by kind and outcome.",
            ["op", "outcome"],
            registry=r,
        )
        self.storage_latency = Histogram(
            "wess_storage_operation_duration_seconds",
            "Storage operation latency.",
            ["op"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.integrity_errors = Counter(
            "wess_integrity_errors_total",
            "Stored modules whose bytes failed verification (digest or backend checksum).",
            registry=r,
        )
        self.storage_damage = Gauge(
            "wess_storage_damage",
            "Damage the store met while serving: records it could not read (unreadable) "
            "and key ranges a scan stepped over (skipped_ranges). Run `wess verify`.",
            ["kind"],
            registry=r,
        )
        self.storage_memory = Gauge(
            "wess_storage_memory_bytes",
            "Memory the storage engine holds in this process, by kind (RocksDB: memtables, "
            "block_cache, table_readers; each bounded by the store's options).",
            ["kind"],
            registry=r,
        )
        self.writer_batch_size = Histogram(
            "wess_writer_batch_jobs",
            "Jobs per group-committed write batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        # caches
        self.cache_hits = Counter(
            "wess_cache_hits_total", "Cache hits by cache.", ["cache"], registry=r
        )
        self.cache_misses = Counter(
            "wess_cache_misses_total", "Cache misses by cache.", ["cache"], registry=r
        )
        self.cache_evictions = Counter(
            "wess_cache_evictions_total", "Cache evictions by cache.", ["cache"], registry=r
        )
        self.cache_bytes = Gauge(
            "wess_cache_bytes", "Bytes held by each cache.", ["cache"], registry=r
        )
        self.cache_entries = Gauge(
            "wess_cache_entries", "Entries held by each cache.", ["cache"], registry=r
        )
        # runtime
        self.compile_seconds = Histogram(
            "wess_compile_duration_seconds",
            "Time to compile a module with wasmtime.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.artifacts = Counter(
            "wess_artifacts_total",
            "Stored AOT artifacts looked up on a compiled-cache miss: hit (loaded), miss "
            "(none for this flavor), rejected (failed authentication), stale (authentic "
            "but unusable by this wasmtime).",
            ["outcome"],
            registry=r,
        )
        self.invocations = InvocationMetrics(per_module=per_module, buckets=LATENCY_BUCKETS)
        r.register(InvocationFamilies(self.invocations))
        self.inline_fallbacks = Counter(
            "wess_inline_fallbacks_total",
            "Calls tried on the event loop that needed more than the inline fuel budget and "
            "were run again on the pool (invocations by outcome are "
            "wess_execution_duration_seconds_count).",
            registry=r,
        )
        # queues
        self.queue_depth = Gauge(
            "wess_queue_depth", "Jobs waiting in each bounded queue.", ["queue"], registry=r
        )
        # security
        self.auth_failures = Counter(
            "wess_auth_failures_total",
            "Requests refused authentication, by reason.",
            ["reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "wess_rate_limited_total",
            "Requests refused by a rate limit, by scope (ip, key).",
            ["scope"],
            registry=r,
        )
        self.permission_denied = Counter(
            "wess_permission_denied_total",
            "Authenticated requests the role does not allow.",
            registry=r,
        )
        self.sandbox_violations = Counter(
            "wess_sandbox_violations_total",
            "Guests stopped by the sandbox, by kind (trap kind, timeout, memory, compile_limit).",
            ["kind"],
            registry=r,
        )
        self.audit_dropped = Counter(
            "wess_audit_dropped_total",
            "Audit entries of refused requests that could not be "
            "queued (the write queue was full).",
            registry=r,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.queue_rejections = Counter(
            "wess_queue_rejections_total",
            "Jobs refused because a queue was full.",
            ["queue"],
            registry=r,
        )
        self._operator_metrics(r)
        self._resilience_metrics(r)
        self._config_metrics(r)
        self.cpu_usage.set_function((cpu or CpuUsage()).percent)
        self.memory_usage.set_function(memory)
        self.build_info.labels(**build_labels()).set(1)
        r.register(DerivedFamilies(self))
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=r)

    def _operator_metrics(self, r: CollectorRegistry) -> None:
        """What an operator of a function platform watches, and the original Wess's
        gauges; the families derived from others are in ``derived``."""
        self.queue_capacity = Gauge(
            "wess_queue_capacity", "The bound of each queue.", ["queue"], registry=r
        )
        self.invocations_in_flight = Gauge(
            "wess_invocations_in_flight",
            "Invocations handed to a pool's threads (running, or next in its line).",
            ["pool"],
            registry=r,
        )
        self.invocations_queued = Gauge(
            "wess_invocations_queued",
            "Invocations admitted but waiting for a pool (a compile, a module's bulkhead).",
            ["pool"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "wess_breaker_state",
            "State of each circuit breaker: 0 closed, 1 half open, 2 open "
            "(storage_reads, storage_writes, ratelimit_redis).",
            ["breaker"],
            registry=r,
        )
        self.build_info = Gauge(
            "wess_build_info",
            "Always 1: the versions of Wess, wasmtime and Python serving.",
            ["version", "wasmtime", "python"],
            registry=r,
        )
        self.database_operations = Counter(
            "wess_database_operations_total",
            "Storage operations by kind: read or write (the original Wess's name; by "
            "method and outcome: wess_storage_operations_total).",
            ["operation"],
            registry=r,
        )
        self.database_latency = Histogram(
            "wess_database_operation_duration_seconds",
            "Storage operation latency, read or write (the original Wess's name).",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.database_size = Gauge(
            "wess_database_size_bytes",
            "Bytes of the RocksDB directory (SST files, write-ahead logs, manifests); "
            "0 for memory://.",
            registry=r,
        )
        self.cpu_usage = Gauge(
            "wess_cpu_usage",
            "CPU used by the process since the previous scrape, percent of one core.",
            registry=r,
        )
        self.memory_usage = Gauge(
            "wess_memory_usage", "Resident memory of the process, in bytes.", registry=r
        )
        self.concurrent_connections = Gauge(
            "wess_concurrent_connections",
            "HTTP requests being served now (the original Wess's name).",
            registry=r,
        )
        self.http_connections = Gauge("wess_http_connections", "Open HTTP connections.", registry=r)
        self.ready = Gauge(
            "wess_ready",
            "1 when every readiness check passes (what /readyz answers 200 to), else 0; "
            "evaluated at each scrape.",
            registry=r,
        )
        self.ready_checks = Gauge(
            "wess_ready_check", "Each readiness check: 1 passing, 0 failing.", ["check"], registry=r
        )

    def record_readiness(self, checks: Mapping[str, str]) -> None:
        """The outcome of the readiness checks (name -> "ok" or why it failed)."""
        for check, outcome in checks.items():
            self.ready_checks.labels(check=check).set(1 if outcome == "ok" else 0)
        self.ready.set(1 if all(outcome == "ok" for outcome in checks.values()) else 0)

    def track_pool(
        self, pool: str, *, in_flight: Callable[[], float], queued: Callable[[], float]
    ) -> None:
        """Report ``pool``'s invocations from these counts, read when scraped."""
        self.invocations_in_flight.labels(pool=pool).set_function(in_flight)
        self.invocations_queued.labels(pool=pool).set_function(queued)

    def _config_metrics(self, r: CollectorRegistry) -> None:
        """Reloads of the configuration (docs/operations.md, Reloading the configuration)."""
        self.config_reloads = Counter(
            "wess_config_reloads_total",
            "Configuration reloads (SIGHUP or the file watch), by result: success (the "
            "file was valid; its reloadable changes apply) or failure (refused whole).",
            ["result"],
            registry=r,
        )
        for result in ("success", "failure"):
            self.config_reloads.labels(result=result)
        self.config_last_reload = Gauge(
            "wess_config_last_reload_success_timestamp_seconds",
            "When the configuration was last reloaded successfully (Unix time; 0: never).",
            registry=r,
        )

    def _resilience_metrics(self, r: CollectorRegistry) -> None:
        """Retries, circuit breakers, deadlines (docs/architecture.md, Resilience)."""
        self.writer_stall_refusals = Counter(
            "wess_writer_stall_refusals_total",
            "Writes answered 503 storage_timeout because a commit was overdue "
            "(writer.commit_timeout_ms), by whether they may still land (applied: false, "
            "unknown).",
            ["applied"],
            registry=r,
        )
        for applied in ("false", "unknown"):
            self.writer_stall_refusals.labels(applied=applied)
        self.storage_retries = Counter(
            "wess_storage_retries_total",
            "Storage reads tried again after a transient failure (storage unavailable), "
            "by operation.",
            ["op"],
            registry=r,
        )
        self.storage_retries_exhausted = Counter(
            "wess_storage_retries_exhausted_total",
            "Storage reads that still failed after their last attempt or their retry "
            "time budget, by operation.",
            ["op"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "wess_breaker_transitions_total",
            "Circuit breakers entering a state, by breaker (module: any module's) and state.",
            ["breaker", "state"],
            registry=r,
        )
        self.breaker_rejections = Counter(
            "wess_breaker_rejections_total",
            "Calls refused at once by an open circuit breaker, by breaker.",
            ["breaker"],
            registry=r,
        )
        self.modules_cooling_down = Gauge(
            "wess_module_breakers_open",
            "Modules whose calls are refused now (module_circuit_open) after timing out "
            "or trapping runner.breaker_failures times in a row.",
            registry=r,
        )
        self.deadlines_exceeded = Counter(
            "wess_deadline_exceeded_total",
            "Requests whose deadline passed, by the layer it passed in (queue, storage, "
            "compile, execution).",
            ["layer"],
            registry=r,
        )
        self.stale_reads = Counter(
            "wess_stale_reads_total",
            "Modules the Reader served from its cache past their time-to-live (reader.ttl) "
            "because storage was unavailable.",
            registry=r,
        )
        self.ratelimit_degraded = Counter(
            "wess_ratelimit_degraded_total",
            "Rate-limit checks Redis could not count, by what happened instead: counted "
            "in this process (local) or refused with 503 (refused).",
            ["outcome"],
            registry=r,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency (label children cached: this runs on
        every request, and ``labels()`` costs more than the increment itself)."""
        if method not in HTTP_METHODS:
            method = "OTHER"  # client-chosen strings must not grow the label set
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.http_requests.labels(
                    method=method, route=route, status=str(status), path=route
                ),
                self.http_latency.labels(method=method, route=route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
