"""The resilience settings (deadlines, retries, circuit breakers, bulkheads), described once.

They belong to the sections an operator looks in (``server.request_timeout_ms``,
``database.retry_attempts``, ``runner.breaker_failures``, ``ratelimit.on_redis_failure``
...), so ``sections`` declares each as a field of its section, taking its default,
bounds and meaning from here; docs/architecture.md (Resilience) says how they work
together.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from wess.workers.pool import COMPILES_QUEUED

REQUEST_TIMEOUT_MS: Any = Field(
    30_000,
    ge=1,
    le=3_600_000,
    description="Deadline of a run request, ms: its module read, compile, waits for a slot "
    "and call together (the call's time limit is cut to what is left); past it, 408 "
    "deadline_exceeded naming the layer. A client may ask for less with the "
    "Request-Timeout-Ms header, never more.",
)

# -- database ---------------------------------------------------------------------------------

RETRY_ATTEMPTS: Any = Field(
    3,
    ge=1,
    le=10,
    description="Tries of a storage read that failed with storage unavailable, the first "
    "included (1: no retry). Writes are never retried (a failed commit may have landed).",
)
RETRY_INITIAL_MS: Any = Field(
    10,
    ge=1,
    le=10_000,
    description="First wait before retrying a read, ms: each wait is drawn between 0 and "
    "this doubled per retry (full jitter), at most database.retry_max_ms.",
)
RETRY_MAX_MS: Any = Field(
    200, ge=1, le=60_000, description="Longest single wait between two tries of a read, ms."
)
RETRY_BUDGET_MS: Any = Field(
    1000,
    ge=1,
    le=600_000,
    description="Time from a read's first try past which no further try starts, ms.",
)
STORAGE_BREAKER_FAILURES: Any = Field(
    5,
    ge=1,
    le=10_000,
    description="Storage failures in a row (reads and writes counted apart) that open its "
    "circuit breaker: what needs storage is then refused at once (503 "
    "storage_circuit_open), cached modules are still served.",
)
STORAGE_BREAKER_COOLDOWN: Any = Field(
    5.0,
    gt=0,
    le=3600,
    description="Seconds an open storage breaker refuses before one call probes storage "
    "again (its success closes the breaker).",
)
MAX_READS: Any = Field(
    1024,
    ge=1,
    le=1_000_000,
    description="Storage reads of every kind waiting or running at once before 503 "
    "overloaded (the storage I/O bulkhead).",
)

# -- runner and limits ------------------------------------------------------------------------

MODULE_BREAKER_FAILURES: Any = Field(
    10,
    ge=0,
    le=100_000,
    description="Calls of one module in a row that trap, run out of memory or time out, "
    "after which its calls are refused at once (503 module_circuit_open) for "
    "runner.breaker_cooldown (0: never).",
)
MODULE_BREAKER_COOLDOWN: Any = Field(
    30.0,
    gt=0,
    le=86_400,
    description="Seconds a failing module's calls are refused before one call tries it again.",
)
COMPILE_QUEUE: Any = Field(
    COMPILES_QUEUED,
    ge=1,
    le=100_000,
    description="Compiles (uploads, and stored modules not compiled yet) waiting or running "
    "across every namespace before 503 overloaded.",
)

# -- ratelimit --------------------------------------------------------------------------------

ON_REDIS_FAILURE: Any = Field(
    "open",
    description="When the Redis counters fail: open counts in this process's memory "
    "instead (each node enforces its limits alone), closed refuses with 503 "
    "ratelimit_unavailable (and /readyz fails while Redis is out).",
)
REDIS_TIMEOUT_MS: Any = Field(
    500,
    ge=1,
    le=60_000,
    description="Longest Redis round trip (or connect) of a rate-limit check, ms; a slower "
    "one is a failure.",
)
REDIS_BREAKER_FAILURES: Any = Field(
    5,
    ge=1,
    le=10_000,
    description="Redis failures in a row after which rate-limit checks stop asking it "
    "(ratelimit.on_redis_failure applies) until ratelimit.breaker_cooldown ends.",
)
REDIS_BREAKER_COOLDOWN: Any = Field(
    5.0, gt=0, le=3600, description="Seconds before one rate-limit check probes Redis again."
)
