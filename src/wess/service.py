"""The use cases of Wess (upload, replace, delete, read, list, run), free of HTTP.

Both HTTP APIs (/v1 and the original Wess routes) call this service; it validates
uploads with the Runner (the runtime reads the module's own exports and imports),
checks what a client declared against them, and goes through the Writer for every
change and through the Reader for every read.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from uuid import UUID, uuid4

import structlog

from wess.circuit import CircuitSnapshot
from wess.errors import (
    AliasNotFound,
    FunctionNotFound,
    InvalidArguments,
    InvalidRequest,
    LinkError,
    ModuleNotFound,
    PayloadTooLarge,
    RevisionNotFound,
    SignatureMismatch,
)
from wess.messages import (
    Actor,
    CreateModule,
    DeleteModule,
    ModuleContent,
    RemoveAlias,
    SetAlias,
    UpdateModule,
)
from wess.models import (
    COMMAND_ENTRY,
    MODULE_NAME_MAX,
    AliasTarget,
    ModuleInfo,
    ModuleRecord,
    Page,
    digest_of,
)
from wess.runtime import Limits
from wess.runtime.analysis import LINK_PREFIX, ExportLimits, acceptable_name, check_exports
from wess.runtime.command_io import CommandInput
from wess.runtime.limits import PER_CALL
from wess.runtime.reasons import clipped, listed
from wess.runtime.wasmbin import is_component
from wess.targets import command_of, default_function_of
from wess.uploading import (
    Upload,
    carried_over,
    check_name,
    describe_mismatch,
    find_function,
    mismatch,
)
from wess.workers.deadline import Deadlines
from wess.workers.outcome import RunOutcome
from wess.workers.reader import Reader
from wess.workers.resolving import CURRENT, Resolver, Selector
from wess.workers.runner import Runner
from wess.workers.writer import Writer

logger = structlog.get_logger(__name__)

ALIASES_MAX = 32
DEFAULT_EXPORTS = ExportLimits()


@dataclass(frozen=True, slots=True)
class RunLimits:
    """Per-request limits by name; each may lower, never raise, the configured one.

    Only the limits ``wess.runtime.limits.PER_CALL`` names may be asked for per call.
    """

    asked: Mapping[str, int]

    def __post_init__(self) -> None:
        refused = sorted(self.asked.keys() - set(PER_CALL))
        if refused:
            raise InvalidRequest(
                f"{', '.join(refused)} cannot be set per call; allowed: {', '.join(PER_CALL)}",
                field="limits",
            )


class ModuleService:
    """Every operation the APIs offer, as plain async methods."""

    def __init__(
        self,
        *,
        reader: Reader,
        writer: Writer,
        runner: Runner,
        max_module_size: int,
        max_args: int,
        max_component_size: int | None = None,
        exports: ExportLimits = DEFAULT_EXPORTS,
        new_id: Callable[[], UUID] = uuid4,
        deadlines: Deadlines | None = None,
        rng: random.Random | None = None,
        resolver: Resolver | None = None,
        aliases_max: int = ALIASES_MAX,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._runner = runner
        self._max_module_size = max_module_size
        self._max_component_size = (
            max_component_size if max_component_size is not None else max_module_size
        )
        self.max_args = max_args
        """Most arguments per call (``limits.max_args``; a reload sets it)."""
        self._exports = exports
        self._new_id = new_id
        self._deadlines = deadlines
        self._resolver = resolver if resolver is not None else Resolver(reader, rng=rng)
        self._aliases_max = aliases_max

    @property
    def resolver(self) -> Resolver:
        """Names, revisions and aliases to ids and records (``workers.resolving``)."""
        return self._resolver

    async def resolve(self, raw: str, *, namespace: str) -> UUID:
        """The id a path segment names: an id, or a module's name in ``namespace``."""
        return await self._resolver.module_id(raw, namespace=namespace)

    @property
    def runner(self) -> Runner:
        """The Runner, read-only, for what it reports: who holds its pools (tests, probes)."""
        return self._runner

    # -- writes ---------------------------------------------------------------------------

    async def create(
        self,
        upload: Upload,
        *,
        namespace: str,
        strict: bool,
        request_id: str | None = None,
        actor: Actor | None = None,
    ) -> ModuleInfo:
        """Validate and store a new module in ``namespace``. ``strict`` rejects declared
        metadata that disagrees with the module (/v1); otherwise it is logged and the
        module's own signature is what runs (the original Wess). ``actor`` is who asked,
        for the audit entry the Writer commits with the module."""
        check_name(upload.name)
        module_id = self._new_id()
        content = await self._validate(
            upload, strict=strict, module_id=module_id, namespace=namespace
        )
        job = CreateModule(
            module_id=module_id,
            namespace=namespace,
            content=content,
            request_id=request_id,
            actor=actor,
        )
        info = await self._writer.submit(job)
        assert info is not None
        return info

    async def update(
        self,
        module_id: UUID,
        upload: Upload,
        *,
        namespace: str | None,
        strict: bool,
        if_match: str | None = None,
        request_id: str | None = None,
        actor: Actor | None = None,
    ) -> ModuleInfo:
        """Replace a module's content; revision + 1. What ``upload`` leaves unsaid is kept
        (``carried_over``): its name, its default function (which the new bytes must
        still export, as declared: ``SignatureMismatch`` otherwise) and the original
        API's metadata. ``if_match`` guards against lost updates (``PreconditionFailed``
        when the current digest differs). ``namespace`` limits which modules may be
        replaced (None: any, for an admin)."""
        current = await self._reader.get_info(module_id, namespace=namespace)
        if upload.name != current.name:
            check_name(upload.name)
        kept = carried_over(upload, current)
        content = await self._validate(
            kept.upload,
            strict=strict,
            module_id=module_id,
            namespace=current.namespace,
            default_kept=kept.default_kept,
        )
        job = UpdateModule(
            module_id=module_id,
            namespace=current.namespace,
            content=content,
            if_match=if_match,
            request_id=request_id,
            actor=actor,
        )
        info = await self._writer.submit(job)
        assert info is not None
        return info

    async def delete(
        self,
        module_id: UUID,
        *,
        namespace: str | None,
        if_match: str | None = None,
        request_id: str | None = None,
        actor: Actor | None = None,
    ) -> None:
        current = await self._reader.get_info(module_id, namespace=namespace)
        job = DeleteModule(
            module_id=module_id,
            namespace=current.namespace,
            if_match=if_match,
            request_id=request_id,
            actor=actor,
        )
        await self._writer.submit(job)

    async def set_alias(
        self,
        module_id: UUID,
        alias: str,
        targets: tuple[AliasTarget, ...],
        *,
        namespace: str | None,
        request_id: str | None = None,
        actor: Actor | None = None,
    ) -> ModuleInfo:
        """Create or move the alias ``alias`` to ``targets`` (each a retained revision):
        moving it back to an older revision is a rollback."""
        current = await self._reader.get_info(module_id, namespace=namespace)
        if current.alias(alias) is None and len(current.aliases) >= self._aliases_max:
            raise InvalidRequest(
                f"module {module_id} has {len(current.aliases)} aliases, the most it may "
                "(modules.aliases_max); remove one first",
                field="alias",
            )
        job = SetAlias(
            module_id=module_id,
            namespace=current.namespace,
            alias=alias,
            targets=targets,
            request_id=request_id,
            actor=actor,
        )
        info = await self._writer.submit(job)
        assert info is not None
        return info

    async def remove_alias(
        self,
        module_id: UUID,
        alias: str,
        *,
        namespace: str | None,
        request_id: str | None = None,
        actor: Actor | None = None,
    ) -> ModuleInfo:
        current = await self._reader.get_info(module_id, namespace=namespace)
        job = RemoveAlias(
            module_id=module_id,
            namespace=current.namespace,
            alias=alias,
            request_id=request_id,
            actor=actor,
        )
        info = await self._writer.submit(job)
        assert info is not None
        return info

    # -- reads ----------------------------------------------------------------------------

    async def get(
        self, module_id: UUID, *, namespace: str | None, selector: Selector = CURRENT
    ) -> ModuleRecord:
        """The module's current record, or the revision ``selector`` names."""
        return await self._resolver.record(module_id, selector, namespace=namespace)

    async def info(self, module_id: UUID, *, namespace: str | None) -> ModuleInfo:
        return await self._reader.get_info(module_id, namespace=namespace)

    async def list(self, *, namespace: str | None, cursor: str | None, limit: int) -> Page:
        return await self._reader.list(namespace=namespace, cursor=cursor, limit=limit)

    async def count(self, *, namespace: str | None) -> int:
        return await self._reader.count(namespace=namespace)

    def breaker(self, module_id: UUID) -> CircuitSnapshot | None:
        """The module's circuit breaker while its calls have been failing (None: they
        work, or breakers are off); an open one refuses its calls."""
        breakers = self._runner.breakers
        return None if breakers is None else breakers.snapshot(module_id)

    # -- runs -----------------------------------------------------------------------------

    async def run(
        self,
        module_id: UUID,
        *,
        namespace: str | None,
        function: str | None,
        args: Sequence[object],
        limits: RunLimits | None = None,
        timeout_ms: int | None = None,
        command: CommandInput | None = None,
        selector: Selector = CURRENT,
    ) -> RunOutcome:
        """Run one function of a stored module in a fresh sandbox; without a ``function``,
        its default (``default_function_of``), resolved from the record read to run it:
        one read per run. The run has a deadline (``deadlines``: the configured budget,
        or ``timeout_ms`` when shorter) that bounds its read, compile, waits and call.

        A module that is a command (``ModuleInfo.is_command``) runs as one, with
        ``command``'s input (none given: empty stdin), when the call names ``_start`` or
        no function of a module without a declared default, and passes no ``args``;
        its outcome has an ``exit_code``. ``command`` for a module that is no command is
        ``InvalidRequest``. ``selector`` names a revision or an alias (the current
        revision by default); the outcome says which revision ran."""
        if len(args) > self.max_args:
            raise InvalidArguments(
                f"at most {self.max_args} arguments are accepted, got {len(args)}",
                max_args=self.max_args,
            )
        deadline = None if self._deadlines is None else self._deadlines.start(timeout_ms)
        if selector.current:
            record = await self._reader.get(module_id, namespace=namespace, deadline=deadline)
        else:
            record = await self._resolver.record(
                module_id, selector, namespace=namespace, deadline=deadline
            )
        command = command_of(record.info, function, args, command)
        name = (
            COMMAND_ENTRY if command is not None else function or default_function_of(record.info)
        )
        # the runtime's limits as they are now (a reload may have changed them)
        effective = None if limits is None else self._runner.limits.narrowed(**limits.asked)
        structlog.contextvars.bind_contextvars(
            module_id=str(module_id), namespace=record.info.namespace, function=name
        )
        return await self._runner.run(
            record, name, args, limits=effective, deadline=deadline, command=command
        )

    async def bind(
        self,
        module_id: UUID,
        *,
        namespace: str | None,
        function: str | None,
        limits: RunLimits | None = None,
    ) -> BoundFunction:
        """One function of a stored module, read once to be called many times (a batch,
        a queued invocation): every call runs the revision read here. Without a
        ``function``, its default; ``FunctionNotFound`` when the module lacks it."""
        record = await self._reader.get(module_id, namespace=namespace)
        name = function or default_function_of(record.info)
        if find_function(record.info.functions, name) is None:
            exported = listed(f.name for f in record.info.functions)
            raise FunctionNotFound(
                f"module {module_id} exports no function {clipped(name)!r}; it exports: {exported}"
            )
        # the runtime's limits at each call (a reload may change them), unless narrowed here
        effective = None if limits is None else self._runner.limits.narrowed(**limits.asked)
        return BoundFunction(record=record, function=name, limits=effective)

    async def call(
        self, bound: BoundFunction, args: Sequence[object], *, timeout_ms: int | None = None
    ) -> RunOutcome:
        """Run ``bound`` with ``args``, under a deadline of its own (as ``run``)."""
        if len(args) > self.max_args:
            raise InvalidArguments(
                f"at most {self.max_args} arguments are accepted, got {len(args)}",
                max_args=self.max_args,
            )
        deadline = None if self._deadlines is None else self._deadlines.start(timeout_ms)
        return await self._runner.run(
            bound.record, bound.function, args, limits=bound.limits, deadline=deadline
        )

    # -- validation -----------------------------------------------------------------------

    async def _check_links(self, links: Sequence[str], *, name: str, namespace: str) -> None:
        """``LinkError`` unless every module the upload links exists in its namespace
        (and its alias, when one is named), and none is the module itself. Whether each
        exports what is imported, and that no longer chain leads back, is checked at
        every call: a name or an alias may point elsewhere by then."""
        for ref in links:
            target_name = ref.partition("@")[0]
            if target_name == name:
                raise LinkError(
                    f"the module imports {LINK_PREFIX}{ref}: itself (cycles are refused)",
                    link=ref,
                )
            try:
                await self._resolver.link_target(ref, namespace=namespace)
            except (ModuleNotFound, AliasNotFound, RevisionNotFound) as exc:
                raise LinkError(
                    f"the module imports {LINK_PREFIX}{ref}: {exc.detail}", link=ref
                ) from None

    async def _validate(
        self,
        upload: Upload,
        *,
        strict: bool,
        module_id: UUID,
        namespace: str,
        default_kept: bool = False,
    ) -> ModuleContent:
        """``upload`` checked and analysed (compiled in ``namespace``'s share of the
        compile workers). A default function the client named that the module lacks, or
        declared otherwise, is refused when ``strict`` (else logged); one an update kept
        (``default_kept``) is always refused: runs rely on it."""
        component = is_component(upload.wasm)
        limit = self._max_component_size if component else self._max_module_size
        if len(upload.wasm) > limit:
            kind, setting = (
                ("component", "components.max_size")
                if component
                else ("module", "limits.max_module_size")
            )
            raise PayloadTooLarge(
                f"the {kind} is {len(upload.wasm)} bytes; the limit is {limit} bytes ({setting})",
                limit=limit,
            )
        # unnamed: named after its id, which addresses it anyway (never indexed as a name)
        name = upload.name if upload.name is not None else str(module_id)
        if not acceptable_name(name, limit=MODULE_NAME_MAX):
            raise InvalidRequest(
                f"name must be 1 to {MODULE_NAME_MAX} printable characters, "
                "without control characters",
                field="name",
            )
        # before the compile, on a thread: a module may hold a great many sections
        prepared = await self._runner.prepare(
            upload.wasm, namespace=namespace, check=partial(check_exports, limits=self._exports)
        )
        functions = prepared.analysis.functions
        await self._check_links(prepared.analysis.links, name=name, namespace=namespace)
        if upload.default_function is not None:
            signature = find_function(functions, upload.default_function)
            differs = mismatch(signature, upload)
            if signature is None or differs:
                detail = describe_mismatch(upload, signature, functions, kept=default_kept)
                if strict or default_kept:
                    raise SignatureMismatch(detail, function=upload.default_function)
                logger.warning(
                    "declared metadata disagrees with the module; "
                    "the module's own signature is what runs",
                    module_id=str(module_id),
                    detail=detail,
                )
        return ModuleContent(
            name=name,
            wasm=upload.wasm,
            digest=digest_of(upload.wasm),
            functions=functions,
            default_function=upload.default_function,
            legacy_metadata=upload.legacy_metadata,
            artifact=prepared.artifact,
        )


@dataclass(frozen=True, slots=True)
class BoundFunction:
    """A function of one revision of a module, with the limits its calls run under."""

    record: ModuleRecord
    function: str
    limits: Limits | None
    """None: the runtime's limits as they are at each call."""

    @property
    def namespace(self) -> str:
        return self.record.info.namespace
