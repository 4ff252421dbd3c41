"""P6: durable writes: the group-committing Writer vs a loop of synced single puts.

In-process, on the same disk, in alternating rounds (fresh store each run, median):

- Wess: ``wess.workers.writer.Writer`` over ``wess.storage.rocks.RocksStore``
  wrapped in ``MeasuredStore`` (with ``Metrics()``) and run on uvloop, as
  ``wess serve`` composes and runs them; 32 asyncio producers each submitting
  ``CreateModule`` jobs one after another; a job counts once ``submit`` returned, i.e.
  once it is synced.
- comparator: one ``rocksdict.Rdict`` (raw mode), a loop of ``put`` with
  ``WriteOptions.sync = True``, one put per record, of the same records: the module's
  encoded metadata followed by its bytes, 1 KB in all.

ratio = Wess writes/s / loop writes/s; goal >= 5. For information it also times HTTP
creates (``POST /v1/modules`` of examples/sum.wasm) on a real server with wrk.

    .venv/bin/python bench/p6_writes.py [--rounds 3] [--seconds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import uvloop
import wrk
from figures import Row, emit, median, ratio, say
from rocksdict import Options, Rdict, WriteOptions
from servers import production_features, sum_wasm, wess_server

from wess.messages import CreateModule, ModuleContent
from wess.models import DEFAULT_NAMESPACE, FunctionSignature, ModuleInfo, ValueType, digest_of
from wess.observability.logging import configure_logging
from wess.observability.metrics import Metrics
from wess.security.audit import AuditKey
from wess.storage.measured import MeasuredStore
from wess.storage.records import encode_info
from wess.storage.rocks import RocksStore
from wess.workers.writer import Writer

GOAL = 5.0
PRODUCERS = 32
RECORD_BYTES = 1024
SUM = FunctionSignature("sum", (ValueType.I32, ValueType.I32), (ValueType.I32,))
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _wasm_bytes_for_1kb() -> int:
    """How many wasm bytes make metadata + bytes = RECORD_BYTES."""
    probe = job(0, 0, size=0)
    return RECORD_BYTES - len(stored_form(probe))


def job(producer: int, number: int, *, size: int) -> CreateModule:
    """A distinct create job: its bytes (not valid wasm: the Writer stores, never runs)."""
    seed = hashlib.sha256(f"{producer}/{number}".encode()).digest()
    wasm = (seed * (size // len(seed) + 1))[:size]
    content = ModuleContent(
        name=f"bench-{producer:02d}-{number:08d}",  # fixed width: every record 1 KB
        wasm=wasm,
        digest=digest_of(wasm),
        functions=(SUM,),
        default_function="sum",
    )
    return CreateModule(module_id=uuid.uuid4(), namespace=DEFAULT_NAMESPACE, content=content)


def stored_form(create: CreateModule) -> bytes:
    """The record as the Writer stores it (revision 1): encoded metadata, then the bytes."""
    content = create.content
    info = ModuleInfo(
        id=create.module_id,
        namespace=create.namespace,
        name=content.name,
        digest=content.digest,
        size=len(content.wasm),
        revision=1,
        created_at=NOW,
        updated_at=NOW,
        functions=content.functions,
        default_function=content.default_function,
    )
    return encode_info(info) + content.wasm


async def writer_rate(directory: Path, seconds: float, size: int) -> tuple[float, float]:
    """Acknowledged writes/s of the Writer, and its mean jobs per group commit."""
    metrics = Metrics()
    repository = MeasuredStore(await RocksStore.open(directory), metrics)
    try:
        audit_key = AuditKey(bytes(range(32)))  # a server derives its own from its secret
        async with Writer(repository, audit_key=audit_key, metrics=metrics) as writer:
            start = time.perf_counter()
            deadline = start + seconds

            async def producer(index: int) -> int:
                done = 0
                while time.perf_counter() < deadline:
                    await writer.submit(job(index, done, size=size))
                    done += 1
                return done

            counts = await asyncio.gather(*(producer(i) for i in range(PRODUCERS)))
            elapsed = time.perf_counter() - start
    finally:
        await repository.aclose()
    jobs = metrics.registry.get_sample_value("wess_writer_batch_jobs_sum") or 0.0
    batches = metrics.registry.get_sample_value("wess_writer_batch_jobs_count") or 1.0
    return sum(counts) / elapsed, jobs / batches


def loop_rate(directory: Path, seconds: float, size: int) -> float:
    """Writes/s of a loop of synced single puts of the same records."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    db = Rdict(str(directory), options)
    sync = WriteOptions()
    sync.sync = True
    try:
        done = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            create = job(0, done, size=size)
            db.put(b"r:" + str(create.module_id).encode(), stored_form(create), sync)
            done += 1
        elapsed = time.perf_counter() - start
    finally:
        db.close()
    return done / elapsed


def http_creates(seconds: float, connections: int) -> tuple[float, int, list[str]]:
    """Creates/s of ``POST /v1/modules`` on a real server, and the bad answers."""
    with wess_server() as server:
        first = server.upload(sum_wasm(), name="first", function="sum")
        features = production_features(server, first)
        target = wrk.Target(
            "wess",
            f"{server.url}/v1/modules?function=sum",  # unnamed: names are unique
            sum_wasm(),
            {"Content-Type": "application/wasm", **server.auth_headers},
        )
        result = wrk.run(target, connections=connections, duration_s=seconds, timeout_s=10)
    shown = [f"{name}: {'on' if f.on else 'OFF'}" for name, f in features.items()]
    return result.requests_per_s, result.bad_status + result.socket_errors, shown


def log_to_file(directory: Path) -> TextIO:
    """Configure Wess's logging as ``wess serve`` does by default, into a file."""
    stream = (directory / "writer.log").open("w", encoding="utf-8")
    configure_logging(level="info", format="json", stream=stream)
    return stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--http-connections", type=int, default=32)
    parser.add_argument("--http-seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.seconds, options.http_seconds = 1, 1.0, 1.0

    size = _wasm_bytes_for_1kb()
    say(f"P6: {PRODUCERS} producers vs a synced put loop, records of {RECORD_BYTES} bytes")
    writer_runs: list[float] = []
    batch_sizes: list[float] = []
    loop_runs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="wess-bench-p6-") as scratch:
        # Logged as the server logs (JSON lines at info, one per write), into a file.
        log = log_to_file(Path(scratch))
        for number in range(options.rounds):
            sides = ("writer", "loop") if number % 2 == 0 else ("loop", "writer")
            for side in sides:
                directory = Path(scratch) / f"{side}-{number}"
                if side == "writer":
                    # uvloop, as in the server (wess.server.serving)
                    rate, batch = uvloop.run(writer_rate(directory, options.seconds, size))
                    writer_runs.append(rate)
                    batch_sizes.append(batch)
                    say(f"  round {number + 1}: Writer {rate:8.0f} writes/s (batch {batch:.1f})")
                else:
                    rate = loop_rate(directory, options.seconds, size)
                    loop_runs.append(rate)
                    say(f"  round {number + 1}: loop   {rate:8.0f} writes/s")
        log.close()

    say(f"P6: HTTP creates, wrk -t1 -c{options.http_connections} -d{options.http_seconds:g}s")
    creates, bad, features = http_creates(options.http_seconds, options.http_connections)
    say(f"  {creates:.0f} creates/s")

    wess = median(writer_runs)
    loop = median(loop_runs)
    share = ratio(wess, loop)
    info = [
        f"records: {RECORD_BYTES} bytes each (encoded metadata + {size} bytes of module)",
        "Writer as wess serve runs it: over MeasuredStore(RocksStore), on "
        "uvloop, logging each write (JSON, info) to a file",
        "Writer writes/s per round: " + ", ".join(f"{r:.0f}" for r in writer_runs),
        "Writer mean jobs per group commit: " + ", ".join(f"{b:.1f}" for b in batch_sizes),
        "loop writes/s per round: " + ", ".join(f"{r:.0f}" for r in loop_runs),
        f"one synced single put takes {1e6 / loop:.0f} us on average on this disk",
        f"HTTP creates (information): {creates:.0f} creates/s, POST /v1/modules of "
        f"examples/sum.wasm, wrk -t1 -c{options.http_connections} -d{options.http_seconds:g}s"
        + (f", {bad} errors" if bad else ""),
        "HTTP server features: " + "; ".join(features),
    ]
    emit(
        "P6",
        "Durable writes",
        [
            Row(
                measure=f"synced 1 KB writes/s, {PRODUCERS} concurrent producers",
                unit="writes/s",
                wess=wess,
                comparator="synced rocksdict put loop",
                comparator_value=loop,
                ratio=share,
                goal=f">= {GOAL:g} x loop",
                met=share is not None and share >= GOAL,
            )
        ],
        info=info,
        data={
            "writer": writer_runs,
            "loop": loop_runs,
            "batch": batch_sizes,
            "http_creates_per_s": creates,
            "http_errors": bad,
        },
    )


if __name__ == "__main__":
    main()
