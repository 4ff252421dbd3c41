"""What the HTTP layer needs from the composition root, as one value."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request

from wess.api.commands import CommandPolicy
from wess.api.guard import Guard
from wess.auditing import Auditor, AuditTrail
from wess.batching import BatchLimits
from wess.invocations import AsyncInvocations
from wess.keys import KekRotator, KeyService
from wess.models import NodeInfo
from wess.observability.health import HealthCheck
from wess.observability.metrics import Metrics
from wess.observability.tracing import Tracing
from wess.ops.backups import StoreBackups
from wess.ops.inspection import StoreReport
from wess.ops.transfer import Transfer
from wess.service import ModuleService
from wess.workers.kv import KeyValues
from wess.workers.warmup import Warmup

DEFAULT_PAGE_SIZE = 100
DEFAULT_PAGE_BYTES = 1 << 20
DEFAULT_BATCH = BatchLimits()
DEFAULT_COMMANDS = CommandPolicy()


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiState:
    service: ModuleService
    metrics: Metrics
    health: HealthCheck
    guard: Guard
    auditor: Auditor
    keys: KeyService
    audit: AuditTrail
    rotator: KekRotator | None = None
    max_module_size: int
    max_json_body: int
    commands: CommandPolicy = DEFAULT_COMMANDS
    """What a run request may hand a command (``commands`` section)."""
    max_page_size: int
    default_page_size: int = DEFAULT_PAGE_SIZE
    max_page_bytes: int = DEFAULT_PAGE_BYTES
    warmup: Warmup | None = None
    verify_store: Callable[[], Awaitable[StoreReport]] | None = None
    """Read every stored record and report the damaged ones (``GET /v1/admin/verify``)."""
    node: str | None = None
    """This node's id (``server.node_id``, or generated)."""
    nodes: Callable[[], Awaitable[list[NodeInfo]]] | None = None
    """The nodes serving the store, heard from recently (``GET /v1/cluster/nodes``)."""
    damage: Callable[[], Mapping[str, object] | None] | None = None
    """What the store found damaged while serving, None while nothing is (``/readyz``
    reports it)."""
    transfer: Transfer | None = None
    """Export and import (``/v1/admin/export``, ``/v1/admin/import``)."""
    backups: StoreBackups | None = None
    """The store's backups (``/v1/admin/backups``); None for a store kept in memory."""
    breakers: Callable[[], Mapping[str, object]] | None = None
    """Every circuit breaker's state (``/readyz`` reports it as ``breakers``)."""
    tracing: Tracing | None = None
    """Makes the spans of each request (None: tracing is off)."""
    kv: KeyValues | None = None
    """The namespaces' key-value state (``/v1/kv``), which guests reach by ``wess:kv@1``."""
    invocations: AsyncInvocations | None = None
    """Asynchronous invocations (``/v1/modules/{id}/invocations``, ``/v1/invocations``)."""
    batch: BatchLimits = DEFAULT_BATCH
    """How large a batch of calls may be (``POST /v1/modules/{id}/run:batch``)."""


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.wess
    return state
