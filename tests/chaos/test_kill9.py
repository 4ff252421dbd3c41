"""kill -9 in the middle of concurrent creates and updates through a real server.

Each round starts `wess serve` on the same data directory, lets writers create and
replace modules for a seeded random time, then SIGKILLs it while requests are in
flight, starts it again and checks: every acknowledged write is there with the digest
it was acknowledged with (a write whose answer was lost may hold either its old or its
new bytes, nothing else), and every module's bytes hash to the digest its metadata
names (no torn record). Short: 5 kills; full (`make chaos`): 50.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from tests.chaos.conftest import UNLIMITED
from tests.fixtures import distinct_sum
from tests.support import ServerProcess, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
WASM = {"content-type": "application/wasm"}
WRITERS = 4
SEED = 20261201


@dataclass
class Owned:
    """A module one writer owns: the digest last acknowledged, and the digest of a write
    sent whose answer never came (the kill cut it)."""

    acked: str
    pending: str | None = None
    touched: bool = True
    """Written to since the last check: its bytes are downloaded and hashed again."""


@dataclass
class Writer:
    """Creates modules and replaces the ones it created, until told to stop or cut off."""

    rng: random.Random
    serial: itertools.count[int]
    owned: dict[str, Owned] = field(default_factory=dict)
    acknowledged: int = 0

    def run(self, server: ServerProcess, stop: threading.Event) -> None:
        with server.client(timeout=10) as client:
            while not stop.is_set():
                content = distinct_sum(next(self.serial))
                digest = "sha256:" + hashlib.sha256(content).hexdigest()
                target = (
                    self.rng.choice(sorted(self.owned))
                    if self.owned and self.rng.random() < 0.5
                    else None
                )
                if target is not None:
                    self.owned[target].pending = digest
                    self.owned[target].touched = True
                try:
                    if target is None:
                        response = client.post("/v1/modules", content=content, headers=WASM)
                    else:
                        response = client.put(
                            f"/v1/modules/{target}", content=content, headers=WASM
                        )
                except httpx.HTTPError:
                    return  # the server is gone: this write's fate is unknown
                if response.status_code in (200, 201):
                    body = response.json()
                    assert body["digest"] == digest, response.text
                    self.owned[body["id"]] = Owned(acked=digest)
                    self.acknowledged += 1
                elif response.status_code == 503:  # shed under load: not acknowledged
                    if target is not None:
                        self.owned[target].pending = None
                else:
                    raise AssertionError(f"unexpected {response.status_code}: {response.text}")


def listing(client: httpx.Client) -> dict[str, str]:
    """Every module the server lists: id -> digest (every page)."""
    found: dict[str, str] = {}
    cursor = None
    while True:
        params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/modules", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        found.update({item["id"]: item["digest"] for item in body["items"]})
        cursor = body.get("next_cursor")
        if not cursor:
            return found


def intact(client: httpx.Client, module_id: str, digest: str) -> bool:
    """Whether the module's bytes hash to ``digest`` (its metadata's)."""
    download = client.get(f"/v1/modules/{module_id}/wasm")
    assert download.status_code == 200, download.text
    return "sha256:" + hashlib.sha256(download.content).hexdigest() == digest


def check_store(
    server: ServerProcess, writers: list[Writer], hashed: set[str]
) -> tuple[int, int, int]:
    """Compare what the restarted server holds with what was acknowledged, and settle each
    module's pending write to what landed. Every module's digest is checked through the
    listing; the bytes of every module written since the last check (and of each
    module seen for the first time) are downloaded and hashed. Answers (writes
    checked, lost, torn)."""
    lost = torn = checked = 0
    with server.client(timeout=30) as client:
        held = listing(client)
        for writer in writers:
            for module_id, owned in writer.owned.items():
                checked += 1
                digest = held.get(module_id)
                if digest is None or digest not in (owned.acked, owned.pending):
                    lost += 1
                    continue
                if owned.touched and not intact(client, module_id, digest):
                    torn += 1
                hashed.add(module_id)
                owned.acked, owned.pending, owned.touched = digest, None, False
        for module_id, digest in held.items():  # creates whose answer was lost
            if module_id not in hashed:
                torn += not intact(client, module_id, digest)
                hashed.add(module_id)
    return checked, lost, torn


def acknowledged(writers: list[Writer]) -> int:
    return sum(writer.acknowledged for writer in writers)


def test_kill_9_at_random_moments_loses_no_acknowledged_write(server_factory, level, record):
    """Each start first checks what the last kill left, then writes until the next kill."""
    rng = random.Random(SEED)
    serial = itertools.count(SEED)
    kills = level.pick(5, 50)
    writers = [Writer(rng=random.Random(rng.random()), serial=serial) for _ in range(WRITERS)]
    checked_total = 0
    hashed: set[str] = set()
    for round_ in range(kills + 1):
        server = server_factory(**UNLIMITED)
        checked, lost, torn = check_store(server, writers, hashed)
        checked_total += checked
        assert (lost, torn) == (0, 0), f"after kill {round_}: {lost} writes lost, {torn} torn"
        if round_ == kills:
            assert server.stop() == 0
            break
        stop = threading.Event()
        threads = [threading.Thread(target=w.run, args=(server, stop)) for w in writers]
        before = acknowledged(writers)
        for thread in threads:
            thread.start()
        # the first write of the round acknowledged (however loaded the machine), then a
        # seeded random moment later: the kill
        eventually(lambda before=before: acknowledged(writers) > before, "a write", settle=60)
        time.sleep(rng.uniform(0.0, 1.0))
        server.kill()
        stop.set()
        for thread in threads:
            thread.join()
    acknowledged_writes = acknowledged(writers)
    assert acknowledged_writes >= kills  # writes did happen between the kills
    record(kills=kills, acknowledged=acknowledged_writes, checked=checked_total, lost=0, torn=0)
