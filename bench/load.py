"""Load and soak: one Wess under Locust (``bench/locustfile.py``), measured from outside.

    .venv/bin/python bench/load.py --profile smoke   # 30 s, part of `make chaos`
    .venv/bin/python bench/load.py --profile soak    # 10 minutes: `make soak`
    .venv/bin/python bench/load.py --profile soak-long    # 30 minutes, by hand

Starts ``wess serve`` with its defaults (``servers.wess_server``: only the rate limits
raised above the load), makes three namespaces, an API key of each, and four modules in
each (``sum``, ``numbers``, ``counter``, ``traps``), then runs Locust headless from the
bench environment with the profile's stages while it samples the server's RSS every
second and, from its metrics every 5 s, what its bounded caches and buffers hold (RSS
drift is reported as it is, and outside those: the part that must not grow). Writes
``docs/reliability/load-<profile>.json``: requests, throughput,
p50/p95/p99, answers by kind (shedding, 429/503, apart from errors), and RSS over time.
``bench/reliability.py`` turns that into docs/RELIABILITY.md and its plot.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from figures import REPO, say
from servers import Client, Server, wess_server

FIXTURES = REPO / "tests" / "fixtures"
RESULTS = REPO / "docs" / "reliability"
NAMESPACES = ("shop", "billing", "search")
MODULES = ("sum", "numbers", "counter", "traps")
SHEDDING = ("429", "503")
WARM_UP_S = 30
"""RSS drift is measured from this long after the start (caches and pools filled)."""


def wat(name: str) -> bytes:
    import wasmtime

    return bytes(wasmtime.wat2wasm((FIXTURES / f"{name}.wat").read_text()))


def prepare(server: Server) -> dict[str, Any]:
    """A key of each namespace and its modules: what the locustfile reads."""
    admin = server.client()
    tenants = []
    for namespace in NAMESPACES:
        key = {"namespace": namespace, "role": "developer", "name": f"load-{namespace}"}
        answer = admin.post_json("/v1/keys", key)
        if answer.status != 201:
            raise RuntimeError(f"key for {namespace}: {answer.status} {answer.body[:200]!r}")
        token = answer.json()["token"]
        tenant = Client(server.port, {"Authorization": f"Bearer {token}"})
        modules = {}
        for name in MODULES:
            created = tenant.request(
                "POST",
                f"/v1/modules?name={name}",
                wat(name),
                headers={"content-type": "application/wasm"},
            )
            if created.status != 201:
                raise RuntimeError(f"upload {name}: {created.status} {created.body[:200]!r}")
            modules[name] = created.json()["id"]
        tenant.close()
        tenants.append({"namespace": namespace, "token": token, "modules": modules})
    admin.close()
    return {"tenants": tenants, "sum_wasm": base64.b64encode(wat("sum")).decode()}


BOUNDED = re.compile(r"^wess_(?:storage_memory_bytes|cache_bytes)\{[^}]*\} ([0-9.e+]+)$", re.M)
"""The server's bounded holdings, from its metrics: RocksDB's memtables, block cache and
table readers (``wess_storage_memory_bytes``) and Wess's own caches
(``wess_cache_bytes``). Each fills up to its bound while a run writes and reads."""
METRICS_EVERY = 5


def bounded_bytes(client: Client) -> float:
    """What the server's bounded caches and buffers hold now (from ``/metrics``)."""
    text = client.request("GET", "/metrics").body.decode()
    return sum(float(value) for value in BOUNDED.findall(text))


def sample_rss(
    server: Server, every: float, stop: threading.Event
) -> tuple[list[list[float]], list[list[float]], threading.Thread]:
    """Seconds since now and the server's RSS, every ``every`` s until ``stop``; and,
    every ``METRICS_EVERY`` s, seconds and what its bounded caches and buffers hold."""
    samples: list[list[float]] = []
    bounded: list[list[float]] = []
    started = time.monotonic()
    client = server.client()

    def loop() -> None:
        next_scrape = 0.0
        while not stop.is_set():
            try:
                now = round(time.monotonic() - started, 1)
                samples.append([now, server.rss_bytes()])
                if now >= next_scrape:
                    bounded.append([now, bounded_bytes(client)])
                    next_scrape = now + METRICS_EVERY
            except (OSError, RuntimeError):
                return
            stop.wait(every)
        client.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return samples, bounded, thread


def run_locust(
    locust: Path, server: Server, setup: Path, profile: str, mix: str, prefix: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WESS_")},
        "WESS_LOAD_SETUP": str(setup),
        "WESS_LOAD_PROFILE": profile,
        "WESS_LOAD_MIX": mix,
    }
    command = [
        str(locust),
        "-f",
        str(REPO / "bench" / "locustfile.py"),
        "--headless",
        "--host",
        server.url,
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    subprocess.run(command, env=env, check=True, cwd=REPO)


def answers_by_kind(prefix: Path, requests: int, failures: int) -> dict[str, int]:
    """Every answer that was not the expected one, by ``<status> <code>``."""
    kinds: dict[str, int] = {}
    with open(f"{prefix}_failures.csv", newline="") as table:
        for row in csv.DictReader(table):
            found = re.search(r"(\d{3}(?: [a-z_-]+)?|0)", row["Error"])
            kind = found.group(1) if found else row["Error"][:60]
            kinds[kind] = kinds.get(kind, 0) + int(row["Occurrences"])
    unexplained = failures - sum(kinds.values())
    if unexplained > 0:
        kinds["other"] = kinds.get("other", 0) + unexplained
    return kinds


def summary(prefix: Path) -> dict[str, Any]:
    with open(f"{prefix}_stats.csv", newline="") as table:
        rows = {row["Name"]: row for row in csv.DictReader(table)}
    total = rows["Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    kinds = answers_by_kind(prefix, requests, failures)
    shed = sum(n for kind, n in kinds.items() if kind.split(" ")[0] in SHEDDING)
    errors = failures - shed
    return {
        "requests": requests,
        "throughput_rps": round(float(total["Requests/s"]), 1),
        "p50_ms": float(total["50%"]),
        "p95_ms": float(total["95%"]),
        "p99_ms": float(total["99%"]),
        "unexpected_by_kind": kinds,
        "shed": shed,
        "errors": errors,
        "error_rate": round(errors / requests, 6) if requests else 0.0,
        "by_operation": {
            name: {"requests": int(row["Request Count"]), "p99_ms": float(row["99%"])}
            for name, row in rows.items()
            if name != "Aggregated"
        },
    }


def drift(samples: list[list[float]]) -> float | None:
    """RSS of the last minute over RSS of the first minute after the warm-up, minus 1."""
    settled = [rss for t, rss in samples if t >= WARM_UP_S]
    if len(settled) < 120:
        return None
    first, last = settled[:60], settled[-60:]
    return round(sum(last) / len(last) / (sum(first) / len(first)) - 1, 4)


def outside_bounded(samples: list[list[float]], bounded: list[list[float]]) -> list[list[float]]:
    """RSS minus the bounded caches and buffers (the latest scrape at or before each RSS
    sample): the part of the process that must not grow."""
    if not bounded:
        return []
    result = []
    index = 0
    for t, rss in samples:
        while index + 1 < len(bounded) and bounded[index + 1][0] <= t:
            index += 1
        if bounded[index][0] <= t:
            result.append([t, rss - bounded[index][1]])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument(
        "--mix",
        default="realistic",
        choices=("realistic", "no-writes"),
        help="no-writes: runs and reads only",
    )
    parser.add_argument("--locust", type=Path, default=REPO / ".bench-venv" / "bin" / "locust")
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args()
    if not options.locust.exists():
        raise SystemExit(f"{options.locust} does not exist: `make chaos` installs it")
    name = options.profile if options.mix == "realistic" else f"{options.profile}-{options.mix}"
    out = options.out or RESULTS / f"load-{name}.json"
    with tempfile.TemporaryDirectory(prefix="wess-load-") as scratch, wess_server() as server:
        setup = Path(scratch) / "setup.json"
        setup.write_text(json.dumps(prepare(server)))
        stop = threading.Event()
        samples, bounded, sampler = sample_rss(server, 1.0, stop)
        started = time.monotonic()
        say(f"  locust: profile {options.profile}")
        run_locust(
            options.locust, server, setup, options.profile, options.mix, Path(scratch) / "run"
        )
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join()
        result = {
            "profile": name,
            "seconds": round(elapsed, 1),
            **summary(Path(scratch) / "run"),
            "rss_samples": samples,
            "rss_drift": drift(samples),
            "bounded_samples": bounded,
            "rss_drift_outside_bounded": drift(outside_bounded(samples, bounded)),
            "server_alive": server.process.poll() is None,
            "command": f".venv/bin/python bench/load.py --profile {options.profile}"
            + ("" if options.mix == "realistic" else f" --mix {options.mix}"),
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    say(
        f"  {result['requests']} requests, {result['throughput_rps']} req/s, p99 "
        f"{result['p99_ms']} ms, errors {result['errors']} ({result['error_rate']:.4%}), "
        f"shed {result['shed']}, RSS drift {result['rss_drift']} (outside the bounded caches "
        f"and buffers: {result['rss_drift_outside_bounded']})"
    )
    if not result["server_alive"]:
        sys.exit("the server died under load")


if __name__ == "__main__":
    main()
