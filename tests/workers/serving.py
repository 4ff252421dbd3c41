"""The worker stack as the composition root builds it, over a repository that outlives it.

Opening a ``Serving`` twice on the same repository, with a fresh Runtime each time, is a
restart as far as compiled modules go: the compiled cache starts empty, storage does not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID, uuid4

from tests.fixtures import wasm
from tests.storage.builders import AUDIT_KEY
from wess.messages import CreateModule, ModuleContent
from wess.models import DEFAULT_NAMESPACE, ModuleInfo, digest_of
from wess.observability.metrics import Metrics
from wess.runtime import Limits, Runtime, RuntimeConfig
from wess.runtime.artifact import ArtifactSealer
from wess.runtime.isolated import IsolatedCompiler
from wess.storage import Store
from wess.workers.loader import ProgramLoader
from wess.workers.reader import Reader
from wess.workers.runner import Runner
from wess.workers.usage import UsageCounter
from wess.workers.writer import Writer

KEY = bytes(range(32))


@dataclass
class Serving:
    store: Store
    runtime: Runtime
    metrics: Metrics
    reader: Reader
    writer: Writer
    runner: Runner
    usage: UsageCounter

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    @property
    def compiles(self) -> float:
        return self.sample("wess_compile_duration_seconds_count")

    def artifacts(self, outcome: str) -> float:
        return self.sample("wess_artifacts_total", outcome=outcome)

    async def create(self, name: str, *, with_artifact: bool = True) -> ModuleInfo:
        """Upload fixture ``name`` the way the service does: prepared, then committed."""
        module = wasm(name)
        prepared = await self.runner.prepare(module, namespace=DEFAULT_NAMESPACE)
        module_id = uuid4()
        content = ModuleContent(
            name=f"{name}-{module_id.hex[:8]}",  # names are unique in a namespace
            wasm=module,
            digest=digest_of(module),
            functions=prepared.analysis.functions,
            artifact=prepared.artifact if with_artifact else None,
        )
        job = CreateModule(module_id=module_id, namespace=DEFAULT_NAMESPACE, content=content)
        info = await self.writer.submit(job)
        assert info is not None
        return info

    async def run(self, module_id: UUID, function: str, args: list[object]) -> list[object]:
        record = await self.reader.get(module_id)
        return list((await self.runner.run(record, function, args)).results)


@asynccontextmanager
async def serving(
    repository: Store,
    *,
    config: RuntimeConfig | None = None,
    compiler: IsolatedCompiler | None = None,
    key: bytes = KEY,
) -> AsyncIterator[Serving]:
    """Reader, Writer, ProgramLoader, UsageCounter and Runner over ``repository``, opened
    and closed in the composition root's order."""
    metrics = Metrics()
    with Runtime(limits=Limits(timeout_ms=2000), config=config) as runtime:
        reader = Reader(repository.modules, metrics=metrics)
        writer = Writer(repository, audit_key=AUDIT_KEY, metrics=metrics)
        programs = ProgramLoader(
            runtime,
            metrics=metrics,
            sealer=ArtifactSealer(key, flavor=runtime.flavor),
            compiler=compiler,
            artifacts=reader.get_artifact,
            store=writer.submit,
        )
        usage = UsageCounter(writer.submit, interval=3600)
        runner = Runner(runtime, metrics=metrics, workers=2, programs=programs, usage=usage)
        async with runner, writer, programs, usage:
            writer.subscribe(reader.on_module_changed)
            writer.subscribe(runner.on_module_changed)
            yield Serving(repository, runtime, metrics, reader, writer, runner, usage)
