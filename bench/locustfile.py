"""A realistic mix of Wess traffic for Locust, and the load profiles it runs under.

Run by ``bench/load.py`` (which starts the server, makes the keys, namespaces and
modules this file reads from ``WESS_LOAD_SETUP``, and reports); not meant to be run
by hand, though ``locust -f bench/locustfile.py`` works against a prepared server.

The mix, per user: runs of several modules (most of the traffic), reads and listings,
uploads and replacements, and calls that fail on purpose (a trap, an unknown module).
Each user holds one of several API keys, each key of its own namespace. An answer is a
success when it is the one expected (a trap's 422 included); any other answer is a
failure named ``<status> <code>``, so the report can tell shedding (429, 503) from
errors.

The profiles mirror the original Wess's k6 scenarios (tests/load/k6.js: smoke, load,
stress, peak, soak), scaled to a small machine: k6 counted requests per second into
the thousands; here users wait 50-250 ms between calls, so a user makes a few calls a
second and the stages are counted in users.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
from typing import Any

from locust import HttpUser, LoadTestShape, between, task

SETUP = json.loads(open(os.environ["WESS_LOAD_SETUP"], encoding="utf-8").read())  # noqa: SIM115
PROFILE = os.environ.get("WESS_LOAD_PROFILE", "smoke")
WRITES = os.environ.get("WESS_LOAD_MIX", "realistic") != "no-writes"
"""``WESS_LOAD_MIX=no-writes`` leaves out uploads, replacements and deletes: a soak of
runs and reads only, which tells the process's own memory from the store's growth."""
SHEDDING = {"429", "503"}

STAGES: dict[str, list[tuple[int, int, float]]] = {
    # (seconds since the start at which the stage ends, users, users started per second)
    "smoke": [(30, 4, 4)],
    "load": [(15, 24, 2), (45, 24, 2), (60, 0, 4)],
    "stress": [
        (10, 8, 2),
        (30, 8, 2),
        (40, 24, 2),
        (60, 24, 2),
        (65, 48, 8),
        (85, 48, 8),
        (95, 0, 8),
    ],
    "spike": [
        (10, 8, 4),
        (20, 8, 4),
        (25, 80, 40),
        (35, 80, 40),
        (40, 8, 40),
        (50, 8, 4),
        (55, 0, 4),
    ],
    "soak": [(600, 16, 4)],
    "soak-long": [(1800, 16, 4)],
}
"""smoke: a few users for a while (the k6 smoke: 10 VUs, 5 s); load: a ramp, a plateau,
a ramp down; stress: the k6 stress's three rising plateaus; spike: the k6 peak's sudden
tenfold jump and return; soak: a steady load for 10 minutes; soak-long: the same for 30
(whether what the 10-minute soak's RSS gains is a fill that ends or a leak)."""


def _module_bytes(seed: int) -> bytes:
    """The ``sum`` module with a custom section of its own: each upload new bytes."""
    payload = random.Random(seed).randbytes(64)
    section = bytes([3]) + b"pad" + payload
    return base64.b64decode(SETUP["sum_wasm"]) + bytes([0, len(section)]) + section


class WessUser(HttpUser):
    wait_time = between(0.05, 0.25)
    serial = itertools.count()

    def on_start(self) -> None:
        self.tenant: dict[str, Any] = random.choice(SETUP["tenants"])
        self.client.headers["authorization"] = f"Bearer {self.tenant['token']}"
        self.mine: list[str] = []

    def _call(
        self, method: str, path: str, name: str, expected: int, code: str | None = None, **kw: Any
    ) -> Any:
        with self.client.request(method, path, name=name, catch_response=True, **kw) as answer:
            got_code = ""
            if answer.status_code >= 400:
                try:
                    got_code = answer.json().get("code", "")
                except ValueError:
                    got_code = "not-json"
            if answer.status_code == expected and (code is None or got_code == code):
                answer.success()
            else:
                answer.failure(f"{answer.status_code} {got_code}".strip())
            return answer

    def _run(self, module: str, body: dict[str, Any], name: str, **expect: Any) -> None:
        module_id = self.tenant["modules"][module]
        self._call("POST", f"/v1/modules/{module_id}/run", name, json=body, **expect)

    @task(40)
    def run_sum(self) -> None:
        a, b = random.randint(-1000, 1000), random.randint(-1000, 1000)
        self._run("sum", {"args": [a, b]}, "run sum", expected=200)

    @task(10)
    def run_numbers(self) -> None:
        self._run("numbers", {"function": "add_i64", "args": [2, 3]}, "run numbers", expected=200)

    @task(10)
    def run_counter(self) -> None:
        self._run("counter", {"function": "bump", "args": []}, "run counter", expected=200)

    @task(5)
    def run_trap(self) -> None:
        body = {"function": "div", "args": [1, 0]}
        self._run("traps", body, "run trap (fails)", expected=422, code="trap")

    @task(3)
    def run_missing(self) -> None:
        path = "/v1/modules/00000000-0000-4000-8000-000000000000/run"
        self._call("POST", path, "run missing (fails)", 404, "module_not_found", json={"args": []})

    @task(10)
    def read(self) -> None:
        module_id = random.choice(list(self.tenant["modules"].values()))
        self._call("GET", f"/v1/modules/{module_id}", "read module", 200)

    @task(4)
    def listing(self) -> None:
        self._call("GET", "/v1/modules?limit=20", "list modules", 200)

    @task(4)
    def create(self) -> None:
        if not WRITES:
            return
        content = _module_bytes(next(self.serial) + random.randrange(1 << 30))
        headers = {"content-type": "application/wasm"}
        answer = self._call(
            "POST", "/v1/modules", "create module", 201, data=content, headers=headers
        )
        if answer.status_code == 201:
            self.mine.append(answer.json()["id"])

    @task(2)
    def replace(self) -> None:
        if not WRITES:
            return
        if not self.mine:
            return
        content = _module_bytes(random.randrange(1 << 30))
        headers = {"content-type": "application/wasm"}
        path = f"/v1/modules/{random.choice(self.mine)}"
        self._call("PUT", path, "replace module", 200, data=content, headers=headers)

    @task(2)
    def delete(self) -> None:
        if not WRITES:
            return
        if len(self.mine) < 3:
            return
        path = f"/v1/modules/{self.mine.pop(0)}"
        self._call("DELETE", path, "delete module", 204)


class Profile(LoadTestShape):
    """The stages of ``WESS_LOAD_PROFILE``; ends after the last."""

    stages = STAGES[PROFILE]

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        for end, users, rate in self.stages:
            if elapsed < end:
                return users, rate
        return None
