"""Flipped bytes on disk: one bad byte never takes Wess down, and is never silent.

A store is written once by a real server and flushed to table files; each test damages
a copy of it where a failing disk would: a data block holding module bytes, the
``system`` family's block, the AOT artifacts (a damaged block, and a value altered
behind a valid checksum), the write-ahead log after kill -9, the MANIFEST. Then:

- a store that can open starts, serves every intact module, answers the damaged ones
  with 500 ``integrity_error`` (never executed), and reports the damage in ``/readyz``
  and ``wess_storage_damage``; ``wess verify`` names it, ``wess salvage`` copies the rest;
- a store that cannot open (WAL, MANIFEST) refuses to start with one sentence naming
  ``wess salvage``, which copies what is intact from a repaired copy of it.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.chaos.conftest import UNLIMITED
from tests.fixtures import wasm
from tests.support import ServerProcess, flush_families, raw_family, wess

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
WASM = {"content-type": "application/wasm"}
MODULES = 24
PAYLOAD = 1500
"""Bytes of random padding per module: two or three modules' bytes fill a 4 KiB block,
so a damaged block costs a few modules, not all."""


def padded_sum(seed: int) -> tuple[bytes, bytes]:
    """``sum`` with a custom section of ``PAYLOAD`` random bytes, and those bytes (random
    bytes stay as they are in a compressed block, so they show where a module lies)."""
    payload = random.Random(seed).randbytes(PAYLOAD)
    name = b"pad"
    body = bytes([len(name)]) + name + payload
    size = len(body)
    leb = bytes([(size & 0x7F) | 0x80, size >> 7])
    return wasm("sum") + b"\x00" + leb + body, payload


@dataclass(frozen=True)
class Written:
    """The pristine store: its directory, admin token, and each module's payload."""

    data: Path
    token: str
    payloads: dict[str, bytes]

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.data, to)
        return to


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Written:
    root = tmp_path_factory.mktemp("written")
    server = ServerProcess(data_dir=root / "data", log_path=root / "wess.log", env=UNLIMITED)
    server.start()
    payloads = {}
    try:
        with server.client() as client:
            for seed in range(MODULES):
                content, payload = padded_sum(seed)
                response = client.post("/v1/modules", content=content, headers=WASM)
                assert response.status_code == 201, response.text
                payloads[response.json()["id"]] = payload
    finally:
        assert server.stop() == 0
    flush_families(root / "data")
    return Written(root / "data", server.token, payloads)


def flip(path: Path, at: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


def tables(data: Path) -> list[tuple[Path, bytes]]:
    """Every table file of the store with its first key."""
    from rocksdict import AccessType, Options, Rdict

    db = Rdict(str(data), Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        files = db.live_files()
    finally:
        db.close()
    return [(data / str(f["name"]).lstrip("/"), bytes(f["start_key"])) for f in files]


def damaged(data: Path, family: str) -> bool:
    """Whether reading the whole of ``family`` meets a checksum error (the flip hit)."""
    from wess.storage.rocks.layout import scan

    with raw_family(data, family, read_only=True) as source:
        try:
            for _ in scan(source, b"", b""):
                pass
        except Exception as exc:
            return "Corruption" in str(exc)
    return False


def serve(data: Path, log: Path) -> ServerProcess:
    return ServerProcess(data_dir=data, log_path=log, env=UNLIMITED).start()


def refusal(data: Path) -> subprocess.CompletedProcess[str]:
    """`wess serve` on a store that must not open: its exit."""
    return subprocess.run(
        [sys.executable, "-m", "wess", "serve", "--port", "0", "--data-dir", str(data)],
        env={"PATH": "/usr/bin:/bin", "WESS_LOGGING_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_sentence(result: subprocess.CompletedProcess[str], *names: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0]
    return lines[0]


def runs(server: ServerProcess, token: str, ids: list[str]) -> dict[str, tuple[int, str]]:
    """Each module run once: id -> (status, code or result)."""
    answers = {}
    with server.client(token) as client:
        for module_id in ids:
            response = client.post(f"/v1/modules/{module_id}/run", json={"args": [2, 3]})
            body = response.json()
            answers[module_id] = (response.status_code, str(body.get("code", body.get("results"))))
    return answers


def salvaged_count(data: Path, into: Path) -> tuple[int, str]:
    result = wess("salvage", "--data-dir", str(data), "--into", str(into), ok=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    copied = re.search(r"copied (\d+) modules", result.stdout)
    assert copied is not None, result.stdout
    return int(copied.group(1)), result.stdout


def test_a_damaged_block_of_module_bytes_costs_those_modules_only(written, tmp_path, record):
    """One flipped byte in the bytes of one module: its block's modules answer 500
    integrity_error to a run and a download, every other module runs; readyz, metric,
    `wess verify` and `wess salvage` all account for it."""
    data = written.copy(tmp_path / "data")
    victim = sorted(written.payloads)[MODULES // 2]
    payload = written.payloads[victim]
    (sst,) = [p for p, _ in tables(data) if payload in p.read_bytes()]
    flip(sst, sst.read_bytes().index(payload) + PAYLOAD // 2)

    server = serve(data, tmp_path / "wess.log")
    try:
        answers = runs(server, written.token, sorted(written.payloads))
        with server.client(written.token) as client:
            download = client.get(f"/v1/modules/{victim}/wasm")
            ready = client.get("/readyz")
            metrics = client.get("/metrics").text
    finally:
        assert server.stop() == 0
    damaged = {i for i, answer in answers.items() if answer != (200, "[5]")}
    assert victim in damaged
    assert all(answers[i] == (500, "integrity_error") for i in damaged), answers
    assert len(damaged) <= 4  # the block's modules, no more
    assert (download.status_code, download.json()["code"]) == (500, "integrity_error")
    assert ready.status_code == 200
    assert ready.json()["storage_damage"]["unreadable"] >= 1
    unreadable = re.search(r'wess_storage_damage\{kind="unreadable"\} (\S+)', metrics)
    assert unreadable is not None
    assert float(unreadable.group(1)) >= 1

    checked = wess("verify", "--data-dir", str(data), ok=False)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert victim in checked.stdout
    copied, _ = salvaged_count(data, tmp_path / "salvaged")
    assert copied == MODULES - len(damaged)
    record(scenario="module bytes block", damaged=len(damaged), served=MODULES - len(damaged))


def test_damage_to_the_system_family_and_to_artifacts_costs_nothing_but_time(
    written, tmp_path, record
):
    """The store's own records (format marker) damaged, one artifact block damaged and
    one artifact altered behind a valid checksum: the server starts, every module runs
    and answers right; the altered artifact is rejected (never deserialized), the
    damaged ones are read as misses and compiled again."""
    data = written.copy(tmp_path / "data")
    found = tables(data)
    (system,) = [p for p, key in found if key == b"format"]
    artifacts = [p for p, key in found if b"/sha256:" in key]
    assert artifacts, found
    flip(system, 20)
    flip(artifacts[0], artifacts[0].stat().st_size // 4)
    assert damaged(data, "system")
    assert damaged(data, "artifacts")
    with raw_family(data, "artifacts") as family:
        key, value = next((k, v) for k, v in family.items() if b"/sha256:" in k)
        altered = bytearray(value)
        altered[-100] ^= 0x01  # inside the machine code, after the tag
        family[key] = bytes(altered)

    server = serve(data, tmp_path / "wess.log")
    try:
        answers = runs(server, written.token, sorted(written.payloads))
        with server.client(written.token) as client:
            ready = client.get("/readyz")
            metrics = client.get("/metrics").text
    finally:
        assert server.stop() == 0
    assert set(answers.values()) == {(200, "[5]")}, answers
    assert ready.status_code == 200
    rejected = re.search(r'wess_artifacts_total\{outcome="rejected"\} (\S+)', metrics)
    assert rejected is not None, metrics
    assert float(rejected.group(1)) >= 1
    record(scenario="system family + artifacts", damaged=0, served=MODULES)


def test_a_damaged_write_ahead_log_after_kill_9_refuses_and_salvage_rescues(
    written, tmp_path, record, level
):
    """Writes acknowledged, kill -9, a byte of the log flipped: start-up refuses with one
    sentence naming `wess salvage`, which copies every module (the damaged log's batch
    excepted) from a copy whose log it replays past the damage."""
    data = written.copy(tmp_path / "data")
    server = serve(data, tmp_path / "wess.log")
    with server.client(written.token) as client:
        for seed in range(MODULES, MODULES + 6):
            content, _ = padded_sum(seed)
            assert client.post("/v1/modules", content=content, headers=WASM).status_code == 201
    server.kill()
    (log,) = [p for p in data.glob("*.log") if p.stat().st_size > 0]
    flip(log, log.stat().st_size // 2)

    assert_one_sentence(refusal(data), str(data), "wess salvage")
    copied, report = salvaged_count(data, tmp_path / "salvaged")
    assert "write-ahead log replayed" in report
    assert MODULES <= copied < MODULES + 6
    if level.full:
        rescued = serve(tmp_path / "salvaged", tmp_path / "rescued.log")
        try:
            answers = runs(rescued, written.token, sorted(written.payloads))
        finally:
            assert rescued.stop() == 0
        assert set(answers.values()) == {(200, "[5]")}
    record(scenario="WAL after kill -9", refused=True, salvaged=copied, written=MODULES + 6)


def test_a_damaged_manifest_refuses_and_salvage_rebuilds_it(written, tmp_path, record, level):
    """The MANIFEST damaged: start-up refuses with one sentence naming `wess salvage`;
    salvage repairs a copy (the damaged store left as it is) and copies every module,
    and (full run) the salvaged store serves them all."""
    data = written.copy(tmp_path / "data")
    (manifest,) = data.glob("MANIFEST-*")
    flip(manifest, manifest.stat().st_size // 2)
    before = hashlib.sha256(manifest.read_bytes()).hexdigest()

    assert_one_sentence(refusal(data), str(data), "wess salvage")
    copied, report = salvaged_count(data, tmp_path / "salvaged")
    assert "MANIFEST rebuilt" in report
    assert copied == MODULES
    assert hashlib.sha256(manifest.read_bytes()).hexdigest() == before  # left as it was
    if level.full:
        rescued = serve(tmp_path / "salvaged", tmp_path / "rescued.log")
        try:
            answers = runs(rescued, written.token, sorted(written.payloads))
        finally:
            assert rescued.stop() == 0
        assert set(answers.values()) == {(200, "[5]")}
    record(scenario="MANIFEST", refused=True, salvaged=copied, written=MODULES)
