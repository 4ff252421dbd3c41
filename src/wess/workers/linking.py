"""Modules that import other stored modules: each link resolved in the caller's
namespace at the call (a name or an alias may point elsewhere since the last one),
compiled, checked to export what is imported, linked in turn, cycles refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

from wess.errors import AliasNotFound, LinkError, ModuleNotFound, RevisionNotFound
from wess.models import ModuleRecord
from wess.runtime import Program, Runtime
from wess.runtime.analysis import LINK_PREFIX
from wess.workers.deadline import Deadline

MAX_LINK_DEPTH = 8
"""Modules one call may link through, the caller's included (the instance limit,
``limits.max_instances``, bounds the modules a call instantiates as well)."""
LinkLookup = Callable[[str, str], Awaitable[ModuleRecord]]
"""(namespace, ``adder`` or ``adder@prod``) -> the record that link names now."""


async def link_program(
    program: Program,
    record: ModuleRecord,
    deadline: Deadline | None,
    chain: tuple[UUID, ...],
    *,
    lookup: LinkLookup | None,
    runtime: Runtime,
    load: Callable[[ModuleRecord, Deadline | None], Awaitable[Program]],
) -> Program:
    """``program`` with the modules it links resolved in its namespace now (a name
    or an alias may point elsewhere since the last call), compiled, and linked in
    turn; ``LinkError`` for a link that resolves to nothing, lacks a function it
    imports, or leads back along ``chain``."""
    if lookup is None:
        raise LinkError(f"module {record.id} links other modules; this Runner links none")
    if len(chain) > MAX_LINK_DEPTH:
        raise LinkError(
            f"module {chain[0]} links modules more than {MAX_LINK_DEPTH} deep",
            module_id=str(chain[0]),
        )
    namespace = record.info.namespace
    targets: dict[str, Program] = {}
    for ref in program.analysis.links:
        try:
            target = await lookup(namespace, ref)
        except (ModuleNotFound, AliasNotFound, RevisionNotFound) as exc:
            raise LinkError(
                f"module {record.id} imports {LINK_PREFIX}{ref}: {exc.detail}",
                module_id=str(record.id),
                link=ref,
            ) from None
        if target.id in chain:
            raise LinkError(
                f"module {record.id} imports {LINK_PREFIX}{ref}, which is {target.id}, "
                "a module of its own chain of links: cycles are refused",
                module_id=str(record.id),
                link=ref,
            )
        linked = runtime.cached(target.digest)
        if linked is None:
            linked = await load(target, deadline)
        missing = [
            name
            for name in program.analysis.linked_functions(ref)
            if name not in linked.compiled.exports
        ]
        if missing:
            raise LinkError(
                f"module {record.id} imports {', '.join(missing)} from "
                f"{LINK_PREFIX}{ref}, which does not export it",
                module_id=str(record.id),
                link=ref,
            )
        if linked.analysis.links:
            linked = await link_program(
                linked,
                target,
                deadline,
                (*chain, target.id),
                lookup=lookup,
                runtime=runtime,
                load=load,
            )
        targets[ref] = linked
    return runtime.link(program, targets)
