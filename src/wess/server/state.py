"""Opening Wess's live parts in dependency order, and closing them in reverse.

settings -> secret -> storage -> Writer/Reader -> runtime -> Runner -> security -> service.
Storage is opened behind its retries, bulkhead and breakers (``resilience``).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from functools import partial

import structlog

import wess
from wess.api.commands import CommandPolicy
from wess.api.state import ApiState
from wess.batching import BatchLimits
from wess.config import Settings
from wess.config.live import LiveSettings
from wess.files import make_private
from wess.invocations import AsyncInvocations
from wess.messages import ModuleChanged, RecordAudit
from wess.models import AuditFields
from wess.observability.health import HealthCheck
from wess.observability.metrics import Metrics
from wess.observability.process import directory_size
from wess.observability.tracing import Tracing
from wess.ops.backups import StoreBackups
from wess.ops.inspection import verify_store
from wess.ops.schedule import BackupMetrics, BackupSchedule
from wess.ops.transfer import Transfer
from wess.runtime import Runtime
from wess.runtime.analysis import ExportLimits
from wess.runtime.artifact import ArtifactSealer
from wess.security.audit import AUDIT_KEY_LABEL, AuditKey
from wess.security.keyfiles import keyring_sealing_with
from wess.security.ratelimit import RedisFailurePolicy
from wess.server.parts import (
    anchor_file,
    backups_of,
    data_dir,
    durable,
    invocation_settings,
    isolated_compiler,
    keyring_of,
    kv_limits,
    namespace_quotas,
    node_of,
    runtime_config,
    runtime_limits,
    secret_path,
    server_secret,
)
from wess.server.resilience import Breakers, deadlines, module_breakers, resilient_store
from wess.server.security import open_security
from wess.service import ModuleService
from wess.storage import ChangeFeed, Event, Store, open_store
from wess.storage.measured import MeasuredStore
from wess.workers.anchoring import AnchorKeeper, check_anchor
from wess.workers.breakers import ModuleBreakers
from wess.workers.deadline import Deadlines
from wess.workers.heartbeat import Heartbeat
from wess.workers.kv import KeyValues
from wess.workers.loader import ProgramLoader
from wess.workers.reader import QUEUE as READER_QUEUE
from wess.workers.reader import Reader
from wess.workers.rechaining import rechain_unkeyed
from wess.workers.resolving import Resolver
from wess.workers.runner import RUNNER_QUEUE, Runner
from wess.workers.usage import UsageCounter
from wess.workers.warmup import Warmup
from wess.workers.writer import QUEUE as WRITER_QUEUE
from wess.workers.writer import Writer

logger = structlog.get_logger(__name__)


@asynccontextmanager
async def open_state(
    settings: Settings,
    *,
    metrics: Metrics,
    tracing: Tracing | None = None,
    live: LiveSettings | None = None,
) -> AsyncIterator[ApiState]:
    """Open storage, the workers and the service; close them in reverse order.
    ``tracing`` (None: off) is handed to every part that makes spans. Each part that
    uses a reloadable key follows ``live`` (when given) from then on."""
    if durable(settings):
        tightened = make_private(data_dir(settings))
        if tightened:
            logger.warning(
                "data directory made private (group and other access removed)",
                path=str(data_dir(settings)),
                files=len(tightened),
            )
    secret = server_secret(settings)
    keyring = keyring_of(settings)
    key_file = settings.security.encryption_key_file
    async with open_store(settings.database.effective_url, keyring=keyring) as opened:
        guarded = resilient_store(opened, settings, metrics=metrics, live=live)
        store = MeasuredStore(guarded, metrics)
        damage = metrics.storage_damage
        damage.labels(kind="unreadable").set_function(lambda: store.admin.damage().unreadable)
        damage.labels(kind="skipped_ranges").set_function(
            lambda: store.admin.damage().skipped_ranges
        )
        for kind in store.admin.memory():
            metrics.storage_memory.labels(kind=kind).set_function(
                partial(_engine_memory, store, kind)
            )
        audit_key = AuditKey(secret.derive(AUDIT_KEY_LABEL))
        anchors = anchor_file(settings, audit_key)
        anchored = None if anchors is None else await check_anchor(store.audit, anchors)
        await rechain_unkeyed(store.audit, store.commit, audit_key)
        writer = Writer(
            store,
            metrics=metrics,
            audit_key=audit_key,
            queue_size=settings.writer.channel_size,
            max_batch=settings.writer.max_batch,
            commit_timeout=settings.writer.commit_timeout_ms / 1000 or None,
            quotas=namespace_quotas(settings),
            keyrings=None if key_file is None else partial(keyring_sealing_with, key_file),
            tracing=tracing,
            revisions_kept=settings.modules.revisions_kept,
        )
        reader = Reader(
            store.modules,
            metrics=metrics,
            cache_bytes=settings.reader.cache_size.max_bytes,
            cache_entries=settings.reader.cache_size.max_entries,
            queue_size=settings.reader.channel_size,
            ttl_seconds=settings.reader.ttl,
            page_limit_max=settings.limits.max_page_size,
            tracing=tracing,
        )
        limits = runtime_limits(settings)
        resolver = Resolver(
            reader,
            rng=random.Random(settings.modules.alias_seed),  # noqa: S311 - a canary split
        )
        artifact_key = secret.derive("artifacts")
        with (
            Runtime(limits=limits, config=runtime_config(settings)) as runtime,
            isolated_compiler(settings, runtime) as compiler,
        ):
            programs = ProgramLoader(
                runtime,
                metrics=metrics,
                sealer=ArtifactSealer(artifact_key, flavor=runtime.flavor),
                compiler=compiler,
                artifacts=reader.get_artifact,
                store=writer.submit,
            )
            usage = UsageCounter(writer.submit)
            breakers = module_breakers(settings, metrics=metrics)
            values = KeyValues(store.kv, limits=kv_limits(settings))
            runner = Runner(
                runtime,
                metrics=metrics,
                workers=settings.runner.workers or None,
                max_pending=settings.runner.channel_size,
                inline_fuel=settings.runner.inline_fuel,
                module_concurrency=settings.runner.module_concurrency or None,
                module_queue=settings.runner.module_queue,
                namespace_concurrency=settings.runner.namespace_concurrency or None,
                namespace_queue=settings.runner.namespace_queue,
                compile_workers=settings.limits.compile_workers,
                namespace_compiles=settings.limits.namespace_compiles or None,
                namespace_compile_queue=settings.limits.namespace_compile_queue,
                compile_queue=settings.limits.compile_queue,
                programs=programs,
                usage=usage,
                breakers=breakers,
                tracing=tracing,
                links=resolver.linked,
                kv=values,
            )
            warmup = Warmup(
                most_used=store.usage.most_used,
                fetch=reader.get,
                prewarm=runner.prewarm,
                limit=settings.runner.prewarm,
            )
            keeper: AbstractAsyncContextManager[object] = (
                contextlib.nullcontext()
                if anchors is None
                else AnchorKeeper(
                    anchors,
                    lambda: writer.audit_head,
                    interval=settings.audit.anchor_interval,
                    anchored=anchored,
                )
            )
            backups = (
                StoreBackups(
                    backups_of(settings),
                    store,
                    secret_file=secret_path(settings),
                    retention=settings.backup.retention,
                )
                if durable(settings) and not settings.database.shared
                else None  # PostgreSQL is backed up with its own tools
            )
            schedule: AbstractAsyncContextManager[object] = (
                BackupSchedule(
                    backups.create,
                    backups.prune,
                    interval=settings.backup.interval,
                    metrics=BackupMetrics(metrics.registry),
                )
                if backups is not None and settings.backup.interval > 0
                else contextlib.nullcontext()
            )

            async def record_audit(fields: AuditFields) -> None:
                await writer.submit(RecordAudit(fields=fields))

            transfer = Transfer(
                store,
                audit_chain=audit_key.chain,
                submit=writer.submit,
                record_audit=record_audit,
                wess_version=wess.__version__,
                max_module_size=settings.max_upload_size,
            )
            # Closed in reverse: backups stop, warm-up stops, usage counts and fresh
            # artifacts reach the Writer, the Writer drains, then the audit log's head
            # is anchored.
            feed = store.feed()  # what other nodes sharing the store change
            following: AbstractAsyncContextManager[object] = feed or contextlib.nullcontext()
            if feed is not None:
                feed.subscribe(partial(_module_event, reader, runner))
                feed.on_gap(reader.forget_everything)
            heartbeat = Heartbeat(store.nodes, node_of(settings, now=datetime.now(UTC)))
            measure_capacity(settings, metrics)
            run_deadlines = deadlines(settings, metrics=metrics)
            service = ModuleService(
                reader=reader,
                writer=writer,
                runner=runner,
                max_module_size=settings.limits.max_module_size,
                max_component_size=settings.components.max_size,
                max_args=settings.limits.max_args,
                exports=ExportLimits(
                    max_exports=settings.limits.max_exports,
                    max_name=settings.limits.max_export_name,
                ),
                deadlines=run_deadlines,
                resolver=resolver,
                aliases_max=settings.modules.aliases_max,
            )
            invocations = AsyncInvocations(
                store.invocations,
                service,
                node=heartbeat.node.id,
                clock=partial(datetime.now, UTC),
                settings=invocation_settings(settings),
            )
            async with (
                following,
                heartbeat,
                keeper,
                runner,
                writer,
                programs,
                usage,
                warmup,
                schedule,
                invocations,  # stops first: what runs is cut short, taken again later
            ):
                writer.subscribe(reader.on_module_changed)
                writer.subscribe(runner.on_module_changed)
                if live is not None:
                    live.subscribe(
                        partial(
                            follow,
                            runtime=runtime,
                            reader=reader,
                            writer=writer,
                            service=service,
                            deadlines=run_deadlines,
                            breakers=breakers,
                            anchor=keeper if isinstance(keeper, AnchorKeeper) else None,
                        )
                    )
                async with open_security(
                    settings,
                    store=store,
                    writer=writer,
                    secret=secret,
                    keyring=keyring,
                    audit_key=audit_key,
                    anchors=anchors,
                    data_dir=data_dir(settings),
                    metrics=metrics,
                    feed=feed,
                    tracing=tracing,
                    live=live,
                ) as security:
                    circuits = Breakers(
                        guarded,
                        redis=security.redis_breaker,
                        redis_policy=RedisFailurePolicy(settings.ratelimit.on_redis_failure),
                        modules=breakers,
                    )
                    if live is not None:
                        live.subscribe(partial(_follow_redis_policy, circuits))
                    probes = {
                        "storage": store.ping,
                        "writer": _writing(writer),
                        "runner": _running("runner", lambda: runner.running),
                        "breakers": circuits.probe,
                    }
                    if feed is not None:
                        probes["changes"] = _listening(feed)
                    probes["warmup"] = _warmed(warmup)
                    health = HealthCheck(probes, advisory=("warmup",))
                    yield ApiState(
                        service=service,
                        metrics=metrics,
                        health=health,
                        guard=security.guard,
                        auditor=security.auditor,
                        keys=security.keys,
                        audit=security.audit,
                        rotator=security.rotator,
                        max_module_size=settings.max_upload_size,
                        max_json_body=settings.max_upload_json_body,
                        commands=CommandPolicy(**settings.commands.model_dump()),
                        max_page_size=settings.limits.max_page_size,
                        max_page_bytes=settings.limits.max_page_bytes,
                        warmup=warmup,
                        damage=lambda: damage_of(store),
                        node=heartbeat.node.id,
                        nodes=heartbeat.live,
                        verify_store=partial(verify_store, store, audit_key=audit_key),
                        transfer=transfer,
                        backups=backups,
                        breakers=circuits.report,
                        tracing=tracing,
                        invocations=invocations,
                        kv=values,
                        batch=BatchLimits(
                            max_items=settings.batch.max_items,
                            max_body=settings.batch.max_body,
                            concurrency=settings.batch.concurrency,
                        ),
                    )


def follow(
    settings: Settings,
    *,
    runtime: Runtime,
    reader: Reader,
    writer: Writer,
    service: ModuleService,
    deadlines: Deadlines,
    breakers: ModuleBreakers | None,
    anchor: AnchorKeeper | None = None,
) -> None:
    """Put the reloadable keys the workers use in force (``LiveSettings.subscribe``)."""
    runtime.limits = runtime_limits(settings)
    runtime.resize_cache(
        settings.runner.cache_size.max_bytes, cache_entries=settings.runner.cache_size.max_entries
    )
    reader.resize_cache(
        settings.reader.cache_size.max_bytes,
        cache_entries=settings.reader.cache_size.max_entries,
        ttl_seconds=settings.reader.ttl,
    )
    writer.set_quotas(namespace_quotas(settings))
    service.max_args = settings.limits.max_args
    deadlines.default_ms = settings.server.request_timeout_ms
    if breakers is not None:
        breakers.cooldown = settings.runner.breaker_cooldown
    if anchor is not None:
        anchor.interval = settings.audit.anchor_interval


def _follow_redis_policy(circuits: Breakers, settings: Settings) -> None:
    circuits.redis_policy = RedisFailurePolicy(settings.ratelimit.on_redis_failure)


def measure_capacity(settings: Settings, metrics: Metrics) -> None:
    """The bounds of the queues, and the size of the data on disk (read when scraped)."""
    for queue, size in (
        (WRITER_QUEUE, settings.writer.channel_size),
        (READER_QUEUE, settings.reader.channel_size),
        (RUNNER_QUEUE, settings.runner.channel_size),
    ):
        metrics.queue_capacity.labels(queue=queue).set(size)
    if durable(settings):
        metrics.database_size.set_function(partial(directory_size, data_dir(settings)))


def damage_of(store: Store) -> dict[str, object] | None:
    """The store's damage report for ``/readyz``, None while it met none."""
    report = store.admin.damage()
    return report.to_dict() if report.damaged else None


def _module_event(reader: Reader, runner: Runner, event: Event) -> None:
    """Another node changed a module: drop what this one cached of it."""
    if isinstance(event, ModuleChanged):
        reader.on_module_changed(event)
        runner.on_module_changed(event)


def _listening(feed: ChangeFeed) -> Callable[[], Awaitable[None]]:
    async def probe() -> None:
        if not feed.listening:
            raise RuntimeError(
                "not listening to other nodes' changes (reconnecting): cached modules and "
                "keys may be stale, so this node is not ready"
            )

    return probe


def _warmed(warmup: Warmup) -> Callable[[], Awaitable[None]]:
    async def probe() -> None:
        progress = warmup.snapshot()
        if progress["state"] != "done":
            done = progress["loaded"] + progress["skipped"]
            raise RuntimeError(f"warming up: {done} of {progress['total']} modules")

    return probe


def _engine_memory(store: Store, kind: str) -> int:
    return store.admin.memory().get(kind, 0)


def _writing(writer: Writer) -> Callable[[], Awaitable[None]]:
    async def probe() -> None:
        if not writer.running:
            raise RuntimeError("the writer is not running")
        if writer.stalled:
            raise RuntimeError("a commit is overdue (writer.commit_timeout_ms): storage stalled")

    return probe


def _running(name: str, is_running: Callable[[], bool]) -> Callable[[], Awaitable[None]]:
    async def probe() -> None:
        if not is_running():
            raise RuntimeError(f"the {name} is not running")

    return probe
