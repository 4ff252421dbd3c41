"""Operational routes: liveness, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from wess.api.access import guarded
from wess.api.guard import requires
from wess.api.resources import json_response
from wess.api.schemas import Health
from wess.api.state import state_of
from wess.observability.metrics import CONTENT_TYPE
from wess.security.rbac import Permission

router = APIRouter(tags=["operations"], dependencies=[Depends(guarded)])


@router.get(
    "/healthz",
    summary="Liveness",
    responses={200: {"model": Health}},
    openapi_extra=requires(Permission.PUBLIC),
)
async def healthz() -> Response:
    """The process is up and its event loop answers."""
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness",
    responses={200: {"model": Health}, 503: {"model": Health}},
    openapi_extra=requires(Permission.PUBLIC),
)
async def readyz(request: Request) -> Response:
    """Ready to take requests: one check each for ``draining`` (fails from the moment
    a stop signal arrives), ``listeners`` (accepting connections), ``storage``, the
    ``writer`` and ``runner``, ``breakers`` (an open storage breaker fails it, and so
    does Redis's under ``ratelimit.on_redis_failure = closed``) and, with a shared
    store, ``changes``; 503 naming the failing ones otherwise. The ``warmup`` check
    (the start-up loading of compiled modules, detailed in ``warmup``) is advisory:
    reported, never failing readiness; so is ``storage_damage``, the damage the store
    met (records it could not read). ``breakers`` details every circuit breaker."""
    state = state_of(request)
    readiness = await state.health.readiness()
    body: dict[str, object] = {
        "status": "ready" if readiness.ready else "not ready",
        "checks": readiness.checks,
    }
    if state.node is not None:
        body["node"] = state.node
    if state.warmup is not None:
        body["warmup"] = state.warmup.snapshot()
    if state.damage is not None and (damage := state.damage()) is not None:
        # served all the same: what is intact is served, the damaged records refused
        body["storage_damage"] = damage
    if state.breakers is not None:
        body["breakers"] = state.breakers()
    return json_response(body, status=200 if readiness.ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {}}, "description": "Metrics"}},
    openapi_extra=requires(Permission.METRICS_READ),
)
async def metrics(request: Request) -> Response:
    """The Prometheus text; readiness is checked now, so ``wess_ready`` is current."""
    state = state_of(request)
    state.metrics.record_readiness((await state.health.readiness()).required)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)
