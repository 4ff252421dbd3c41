"""The composition root: settings -> storage -> workers -> service -> app -> server.

Everything live is opened here, in dependency order, and closed in reverse: the HTTP
server stops accepting first, then the Writer drains its queue, then the store closes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import FrameType
from urllib.parse import unquote, urlsplit

import structlog
import uvicorn
import uvloop

from wess.api.app import create_app
from wess.api.state import ApiState
from wess.config import Settings
from wess.errors import StorageUnavailable, WessError
from wess.observability.health import HealthCheck
from wess.observability.metrics import Metrics
from wess.runtime import Limits, Runtime, RuntimeConfig
from wess.runtime.artifact import ArtifactSealer
from wess.runtime.isolated import IsolatedCompiler
from wess.security.secrets import SECRET_BYTES, ServerSecret
from wess.service import ModuleService
from wess.storage import open_repository
from wess.storage.instrumented import InstrumentedRepository
from wess.workers.loader import ProgramLoader
from wess.workers.reader import Reader
from wess.workers.runner import Runner
from wess.workers.usage import UsageCounter
from wess.workers.warmup import Warmup
from wess.workers.writer import Writer

logger = structlog.get_logger(__name__)


def runtime_limits(settings: Settings) -> Limits:
    """The configured sandbox limits of every call (requests may only lower them)."""
    return Limits(
        max_memory=settings.runner.max_memory,
        timeout_ms=settings.runner.timeout,
        fuel=settings.runner.fuel,
        max_table_elements=settings.limits.max_table_elements,
        max_instances=settings.limits.max_instances,
        max_output=settings.limits.max_output,
    )


def runtime_config(settings: Settings) -> RuntimeConfig:
    return RuntimeConfig(
        max_wasm_stack=settings.limits.max_stack,
        cache_bytes=settings.runner.cache_size,
    )


def server_secret(settings: Settings) -> ServerSecret:
    """The server secret, kept beside the data (in the RocksDB directory). A memory://
    store keeps nothing across restarts, so it gets a throwaway secret."""
    url = urlsplit(settings.database.effective_url)
    if url.scheme == "rocksdb":
        return ServerSecret.load_or_create(Path(unquote(url.path)))
    return ServerSecret(secrets.token_bytes(SECRET_BYTES))


def isolated_compiler(settings: Settings, runtime: Runtime) -> IsolatedCompiler:
    """Compile worker processes for ``runtime``'s engine, under the configured caps."""
    return IsolatedCompiler(
        runtime.config,
        cpu_seconds=settings.limits.compile_cpu_seconds,
        memory_bytes=settings.limits.compile_memory,
    )


@asynccontextmanager
async def open_state(settings: Settings, *, metrics: Metrics) -> AsyncIterator[ApiState]:
    """Open storage, the workers and the service; close them in reverse order."""
    async with open_repository(settings.database.effective_url) as store:
        repository = InstrumentedRepository(store, metrics)
        writer = Writer(
            repository,
            metrics=metrics,
            queue_size=settings.writer.channel_size,
            max_batch=settings.writer.max_batch,
        )
        reader = Reader(
            repository,
            metrics=metrics,
            cache_bytes=settings.reader.cache_size,
            ttl_seconds=settings.reader.ttl,
            page_limit_max=settings.limits.max_page_size,
        )
        limits = runtime_limits(settings)
        artifact_key = server_secret(settings).derive("artifacts")
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
            cores = os.cpu_count() or 2
            runner = Runner(
                runtime,
                metrics=metrics,
                workers=settings.runner.workers or 2 * cores,
                max_pending=settings.runner.channel_size,
                inline_fuel=settings.runner.inline_fuel,
                module_concurrency=settings.runner.module_concurrency or cores,
                module_queue=settings.runner.module_queue,
                programs=programs,
                usage=usage,
            )
            warmup = Warmup(
                most_used=reader.most_used,
                fetch=reader.get,
                prewarm=runner.prewarm,
                limit=settings.runner.prewarm,
            )
            # Closed in reverse: warm-up stops, usage counts and fresh artifacts reach
            # the Writer, then the Writer drains.
            async with runner, writer, programs, usage, warmup:
                writer.subscribe(reader.on_module_changed)
                writer.subscribe(runner.on_module_changed)
                service = ModuleService(
                    reader=reader,
                    writer=writer,
                    runner=runner,
                    limits=limits,
                    max_module_size=settings.limits.max_module_size,
                    max_args=settings.limits.max_args,
                )
                health = HealthCheck(
                    {
                        "storage": repository.ping,
                        "writer": _running("writer", lambda: writer.running),
                        "runner": _running("runner", lambda: runner.running),
                    }
                )
                yield ApiState(
                    service=service,
                    metrics=metrics,
                    health=health,
                    max_module_size=settings.limits.max_module_size,
                    max_json_body=settings.limits.max_json_body,
                    max_page_size=settings.limits.max_page_size,
                    warmup=warmup,
                )


def _running(name: str, is_running: Callable[[], bool]) -> Callable[[], Awaitable[None]]:
    async def probe() -> None:
        if not is_running():
            raise RuntimeError(f"the {name} is not running")

    return probe


async def serve(settings: Settings) -> None:
    """Open everything, serve HTTP until SIGINT/SIGTERM, then close everything."""
    metrics = Metrics()
    async with open_state(settings, metrics=metrics) as state:
        app = create_app(state, access_log=True)
        config = uvicorn.Config(
            app,
            host=settings.server.host,
            port=settings.server.port,
            http="httptools",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(settings.server.shutdown_timeout),
        )
        logger.info(
            "wess serving",
            url=f"http://{settings.server.host}:{settings.server.port}",
            storage=settings.database.effective_url,
        )
        with _signals_handled_by_uvicorn():
            await uvicorn.Server(config).serve()
        logger.info("draining and closing")
    logger.info("wess stopped")


@contextmanager
def _signals_handled_by_uvicorn() -> Iterator[None]:
    """uvicorn stops on SIGINT/SIGTERM, then re-raises the signal to the handler that was
    installed before it: make that a no-op, so Wess goes on to drain the Writer and close
    the store instead of dying with the signal's default action."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _already_stopping) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    logger.info("stop signal received", signal=signal.Signals(signum).name)


def run_server(settings: Settings) -> int:
    """Blocking entry point for ``wess serve``; returns the process exit status."""
    try:
        uvloop.run(serve(settings))
    except StorageUnavailable as exc:
        logger.error("cannot start: storage unavailable", detail=exc.detail)
        return 1
    except WessError as exc:
        logger.error("cannot start", code=exc.code, detail=exc.detail)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0
    return 0
