"""Fairness between tenants (issue 8.3): tenant a's latency, unloaded and under tenant
b's attack, against a real server with its default pools.

Two attacks, as the issue reported them:

- **calls**: b keeps 4 calls running on each of two infinite-loop modules (each call
  ends at the server's timeout, and is sent again at once; a 503 is retried after
  ``--retry-pause`` seconds, as a persistent attacker would). Meanwhile a calls a
  function that runs a few milliseconds on the pool, one call after another.
- **compiles**: b keeps 3 uploads of a module that takes seconds to compile in
  flight; meanwhile a uploads a small module, one upload after another.

For each, a's median and 95th percentile latency alone and under attack, and the
ratio of the medians (goal: within 2x). Not part of ``make bench``.

    .venv/bin/python bench/fairness.py [--samples 40] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import wasmtime
from figures import Row, emit, say
from servers import Client, Server, sum_wasm, wess_server

GOAL = 2.0
CALL_WAT = """
(module
  (func (export "burn") (param $n i64) (result i64) (local $i i64)
    (loop $more
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $more (i64.lt_u (local.get $i) (local.get $n))))
    (local.get $i))
  (func (export "spin") (loop $l br $l)))
"""
FOREVER = 1 << 62
A_CALL_MS = 6.0
"""What a's call costs alone, as in the issue's report."""


def slow_to_compile(statements: int = 50_000, locals_: int = 500) -> bytes:
    """One function that costs the compiler seconds (as ``tests/fixtures/generated.py``)."""
    body = [f'(func (export "run") (param i32) (result i32) (local{" i32" * locals_})']
    for s in range(statements):
        a, b, c = (1 + (s * k + o) % locals_ for k, o in ((7, 0), (13, 5), (17, 3)))
        body.append(
            f"(local.set {a} (i32.add (local.get {b}) (i32.mul (local.get {c}) (local.get 0))))"
        )
        if s % 8 == 0:
            body.append(f"(if (local.get {b}) (then (local.set {c} (i32.const {s}))))")
    body.append("(local.get 1))")
    return bytes(wasmtime.wat2wasm("(module " + "\n".join(body) + ")"))


def mint(server: Server, namespace: str) -> dict[str, str]:
    """The authorization header of a new developer key in ``namespace``."""
    body = {"namespace": namespace, "role": "developer", "name": f"bench@{namespace}"}
    answer = server.client().post_json("/v1/keys", body)
    if answer.status != 201:
        raise RuntimeError(f"minting a key answered {answer.status}: {answer.body[:200]!r}")
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def upload(client: Client, wasm: bytes) -> Any:
    return client.request(
        "POST", "/v1/modules", wasm, headers={"content-type": "application/wasm"}, timeout=120
    )


def upload_id(client: Client, wasm: bytes) -> str:
    answer = upload(client, wasm)
    if answer.status != 201:
        raise RuntimeError(f"upload answered {answer.status}: {answer.body[:200]!r}")
    module_id: str = answer.json()["id"]
    return module_id


def timed(action: Callable[[], Any], samples: int) -> list[float]:
    """Milliseconds of ``samples`` runs of ``action``, one after another."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def calibrate(client: Client, module_id: str) -> int:
    """``n`` for which burn(n) takes about A_CALL_MS over HTTP, unloaded."""
    n = 1_000_000
    for _ in range(4):
        elapsed = statistics.median(timed(partial(call, client, module_id, n), 5))
        n = max(200_000, int(n * A_CALL_MS / max(elapsed, 0.1)))
    return n


def call(client: Client, module_id: str, n: int) -> None:
    answer = client.post_json(f"/v1/modules/{module_id}/run", {"function": "burn", "args": [n]})
    if answer.status != 200:
        raise RuntimeError(f"a's call answered {answer.status}: {answer.body[:200]!r}")


class Attack:
    """Threads that repeat ``action`` until stopped, counting the statuses they get."""

    def __init__(self, actions: list[Callable[[], int]], *, retry_pause: float) -> None:
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pause = retry_pause
        self._threads = [threading.Thread(target=self._run, args=(a,)) for a in actions]

    def __enter__(self) -> Attack:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, action: Callable[[], int]) -> None:
        while not self._stop.is_set():
            status = action()
            with self._lock:
                self.statuses[status] += 1
            if status == 503:
                self._stop.wait(self._pause)


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median": round(statistics.median(ordered), 2),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "max": round(ordered[-1], 2),
    }


def row(measure: str, alone: list[float], attacked: list[float]) -> Row:
    ratio = statistics.median(attacked) / statistics.median(alone)
    return Row(
        measure=measure,
        unit="ms (median)",
        wess=round(statistics.median(attacked), 2),
        comparator="the same, unloaded",
        comparator_value=round(statistics.median(alone), 2),
        ratio=round(ratio, 2),
        goal=f"<= {GOAL:g}x",
        met=ratio <= GOAL,
    )


def calls_attack(server: Server, a: dict[str, str], b: dict[str, str], options: Any) -> Row:
    a_client = Client(server.port, a)
    small = upload_id(a_client, wasmtime.wat2wasm(CALL_WAT))
    loops = [upload_id(Client(server.port, b), wasmtime.wat2wasm(CALL_WAT)) for _ in range(2)]
    n = calibrate(a_client, small)
    alone = timed(lambda: call(a_client, small, n), options.samples)
    bodies = [{"function": "spin"}, {"function": "burn", "args": [FOREVER]}]

    def looping(module_id: str, body: dict[str, Any]) -> Callable[[], int]:
        client = Client(server.port, b)
        path = f"/v1/modules/{module_id}/run"
        return lambda: client.post_json(path, body, timeout=120).status

    actions = [looping(m, body) for m, body in zip(loops, bodies, strict=True) for _ in range(4)]
    with Attack(actions, retry_pause=options.retry_pause) as attack:
        time.sleep(1.0)  # b's calls are on the threads by now
        attacked = timed(lambda: call(a_client, small, n), options.samples)
    say(f"  calls: a alone {summary(alone)}, under attack {summary(attacked)}")
    say(f"  calls: b's answers {dict(attack.statuses)} (n = {n})")
    return row("a's ~6 ms call while b runs 8 infinite loops", alone, attacked)


def compiles_attack(server: Server, a: dict[str, str], b: dict[str, str], options: Any) -> Row:
    a_client = Client(server.port, a)
    module = sum_wasm()
    alone = timed(lambda: upload_id(a_client, module), options.uploads)
    bomb = slow_to_compile()

    def bombing() -> Callable[[], int]:
        client = Client(server.port, b)
        return lambda: upload(client, bomb).status

    with Attack([bombing() for _ in range(3)], retry_pause=options.retry_pause) as attack:
        time.sleep(1.0)  # b's bombs are compiling by now
        attacked = timed(lambda: upload_id(a_client, module), options.uploads)
    say(f"  compiles: a alone {summary(alone)}, under attack {summary(attacked)}")
    say(f"  compiles: b's answers {dict(attack.statuses)}")
    return row("a's small upload while b uploads 3 compile bombs", alone, attacked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40, help="a's calls per phase")
    parser.add_argument("--uploads", type=int, default=10, help="a's uploads per phase")
    parser.add_argument("--retry-pause", type=float, default=0.05, help="b's pause after a 503")
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    options = parser.parse_args()
    if options.quick:
        options.samples, options.uploads = 10, 4
    with wess_server() as server:
        a, b = mint(server, "a"), mint(server, "b")
        rows = [calls_attack(server, a, b, options), compiles_attack(server, a, b, options)]
    for r in rows:
        say(f"{r.measure}: {r.comparator_value} ms alone, {r.wess} ms attacked, {r.ratio}x")
    emit(
        "fairness",
        "Tenant a's latency under tenant b's attack (issue 8.3)",
        rows,
        info=[json.dumps({"samples": options.samples, "uploads": options.uploads})],
    )


if __name__ == "__main__":
    main()
