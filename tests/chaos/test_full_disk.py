"""A real full filesystem under a real server: a small tmpfs holds the data directory.

The disk fills up during uploads: each refused upload is a clear 503 (never a 500, no
traceback), what was stored keeps being served and run, nothing is corrupted, and once
space is freed uploads work again without a restart. Needs root (to mount a tmpfs);
skipped otherwise (the fault-injecting store covers the same path in process).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.conftest import UNLIMITED
from tests.fixtures import wasm
from tests.support import ServerProcess, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
WASM = {"content-type": "application/wasm"}
DISK = "32m"
MODULE_PADDING = 60_000
LEFT_FREE = 400_000
"""Bytes left free beside the ballast: a few uploads fit, then the disk is full."""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def big_module(seed: int) -> bytes:
    """``sum`` padded to about 60 kB with random bytes (which do not compress)."""
    payload = random.Random(seed).randbytes(MODULE_PADDING)
    body = bytes([3]) + b"pad" + payload
    size = len(body)
    leb = bytes([(size & 0x7F) | 0x80, ((size >> 7) & 0x7F) | 0x80, size >> 14])
    return wasm("sum") + b"\x00" + leb + body


def test_a_full_disk_refuses_uploads_cleanly_and_recovers_when_space_returns(
    small_disk, tmp_path, record
):
    server = ServerProcess(
        data_dir=small_disk / "data",
        log_path=tmp_path / "wess.log",
        env={**UNLIMITED, "WESS_DATABASE_BREAKER_COOLDOWN": "0.5"},
    ).start()
    try:
        with server.client() as client:
            first = client.post("/v1/modules", content=big_module(0), headers=WASM)
            assert first.status_code == 201, first.text
            kept = first.json()["id"]
            ballast = small_disk / "ballast"
            free = shutil.disk_usage(small_disk).free
            ballast.write_bytes(b"\0" * max(0, free - LEFT_FREE))

            refusals = []
            for seed in range(1, 40):
                response = client.post("/v1/modules", content=big_module(seed), headers=WASM)
                if response.status_code != 201:
                    refusals.append(response)
                    if len(refusals) == 3:
                        break
            assert refusals, "the disk never filled up"
            for response in refusals:
                assert response.status_code in (503, 507), response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert "Traceback" not in response.text
                assert "space" in response.json()["detail"].lower(), response.text  # says why
            run = client.post(f"/v1/modules/{kept}/run", json={"args": [2, 3]})
            assert run.json()["results"] == [5]
            stored = client.get(f"/v1/modules/{kept}/wasm")
            assert hashlib.sha256(stored.content).digest() == hashlib.sha256(big_module(0)).digest()

            ballast.unlink()

            def uploads_again() -> bool:
                response = client.post("/v1/modules", content=big_module(99), headers=WASM)
                return response.status_code == 201

            eventually(uploads_again, "an upload once space was freed", settle=30)
            assert client.get("/readyz").status_code == 200
    finally:
        assert server.stop() == 0, server.log()[-3000:]
    record(scenario="full tmpfs", refusals=[r.json()["code"] for r in refusals])
