"""The Writer's jobs on their way: each waiting for its answer, the batches in flight,
how an answer or a failure reaches the caller, the line a committed job logs, and how
listeners hear of a change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from wess.messages import (
    ApiKeyChanged,
    CreateApiKey,
    ImportResult,
    ModuleChanged,
    RecordAudit,
    RecordUsage,
    RevokeApiKey,
    TouchApiKeys,
    WriteJob,
)
from wess.models import AuditEntry, ModuleInfo
from wess.workers.batch import MODULE_JOBS, BatchJob, BatchPlan, Step

logger = structlog.get_logger("wess.workers.writer")

E = TypeVar("E", ModuleChanged, ApiKeyChanged)
Result = ModuleInfo | int | ImportResult | None
"""What ``submit`` answers: the module's info (None after a delete and for jobs that
are not about a module), the number of values a rotation rewrapped, or what an import
did with each record."""


@dataclass(slots=True)
class Pending:
    job: WriteJob
    future: asyncio.Future[Result] = field(repr=False)
    closed: bool = False  # answered and counted out of the Writer's unfinished jobs
    withdrawn: bool = False  # refused before storage saw it (``stall``): never applied


@dataclass(slots=True)
class InFlight:
    """A batch whose ``transact`` runs: settled (answered) once it returned."""

    run: list[Pending]
    jobs: list[BatchJob]
    plan: BatchPlan
    steps: list[Step]
    entries: list[AuditEntry]
    commit: asyncio.Future[None]
    begun: float


def log_line(job: WriteJob) -> tuple[str, dict[str, Any]] | None:
    """The info line a committed job logs (None: it logs none at info)."""
    if isinstance(job, MODULE_JOBS):
        module_id = str(job.module_id)
        return f"{job.kind.upper()} {module_id}", {
            "module_id": module_id,
            "request_id": job.request_id,
        }
    if isinstance(job, CreateApiKey | RevokeApiKey):
        key_id = job.key.id if isinstance(job, CreateApiKey) else job.key_id
        return f"{job.kind.upper()} {key_id}", {"key_id": key_id, "request_id": job.request_id}
    if isinstance(job, RecordUsage):
        logger.debug("RECORD_USAGE", modules=len(job.counts))
    elif isinstance(job, TouchApiKeys):
        logger.debug("TOUCH_KEYS", keys=len(job.last_used))
    elif isinstance(job, RecordAudit):
        logger.debug("RECORD_AUDIT", action=job.fields.action, outcome=job.fields.outcome)
    return None


def notify(listeners: list[Callable[[E], None]], event: E, failed: str) -> None:
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            if isinstance(event, ApiKeyChanged):
                logger.exception(failed, listener=repr(listener), key_id=event.key_id)
            else:
                logger.exception(failed, listener=repr(listener), module_id=str(event.module_id))


def answer(pending: Pending, step: Step) -> None:
    if step.error is not None:
        fail(pending, step.error)
    elif not pending.future.done():
        pending.future.set_result(step.planned.info if step.planned is not None else None)


def fail(pending: Pending, exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
