"""SIGTERM under load, through a real server: readiness fails while the requests in
flight still run, every one of them is answered, new connections are refused, the
process exits 0, and every write acknowledged before the stop is there after a restart."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.fixtures import distinct_sum, wasm
from tests.support import ServerProcess, eventually
from wess.testing.scrape import Scrape

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}
SLOW_RUNS = 4
ITERATIONS = 300_000_000
"""burn's loop count: a second or more of guest time per run, so the runs are still in
flight when the stop signal comes (the test waits until they are)."""


def calls_waiting_or_running(server: ServerProcess) -> float:
    """Invocations in flight or queued, every pool together, as /metrics says."""
    with httpx.Client(base_url=server.url, timeout=5) as client:
        scrape = Scrape(client.get("/metrics").text)
    names = ("wess_invocations_in_flight", "wess_invocations_queued")
    return sum(sample.value for name in names for sample in scrape.samples(name))


def test_sigterm_under_load_answers_every_request_in_flight(tmp_path: Path) -> None:
    server = ServerProcess(
        data_dir=tmp_path / "data",
        log_path=tmp_path / "wess.log",
        env={"WESS_RUNNER_TIMEOUT": "120000", "WESS_SERVER_SHUTDOWN_TIMEOUT": "120"},
    ).start()
    assert server.process is not None
    with server.client() as client:
        created = client.post(
            "/v1/modules", content=wasm("burn"), headers=WASM, params={"function": "burn"}
        )
        burn = created.json()["id"]
        assert client.post(f"/v1/modules/{burn}/run", json={"args": [1]}).status_code == 200

    answers: list[httpx.Response | BaseException] = []
    acknowledged: list[str] = []
    first_answer = threading.Event()
    lock = threading.Lock()

    def slow_run() -> None:
        with server.client(timeout=300) as own:
            try:
                answer: httpx.Response | BaseException = own.post(
                    f"/v1/modules/{burn}/run", json={"args": [ITERATIONS]}
                )
            except httpx.HTTPError as exc:
                answer = exc
        first_answer.set()
        with lock:
            answers.append(answer)

    def uploads(seed: int) -> None:
        with server.client() as own:
            for n in range(seed, seed + 10_000, 2):
                try:
                    response = own.post("/v1/modules", content=distinct_sum(n), headers=WASM)
                except httpx.HTTPError:
                    return  # the server stopped taking requests
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(response.json()["id"])
                elif response.status_code != 201:
                    return

    threads = [threading.Thread(target=slow_run) for _ in range(SLOW_RUNS)]
    threads += [threading.Thread(target=uploads, args=(seed,)) for seed in (0, 1)]
    for thread in threads:
        thread.start()
    eventually(lambda: calls_waiting_or_running(server) >= SLOW_RUNS, "the runs in flight")
    eventually(lambda: len(acknowledged) >= 5, "uploads acknowledged")
    server.process.send_signal(signal.SIGTERM)

    def not_ready() -> str | None:
        try:
            with httpx.Client(base_url=server.url, timeout=5) as fresh:
                response = fresh.get("/readyz")
        except httpx.ConnectError:
            return "refused"  # the listener is closed: a new connection is refused
        if response.status_code == 503:
            assert response.json()["checks"]["draining"] != "ok"
            return "draining"
        assert response.status_code == 200  # not yet told: never half an answer
        return None

    eventually(not_ready, "readiness failing")
    assert not first_answer.is_set(), "readiness failed only after a run in flight ended"

    def refused() -> bool:
        try:
            httpx.get(f"{server.url}/healthz", timeout=5)  # answered whole, if at all
        except httpx.ConnectError:
            return True
        return False

    eventually(refused, "new connections refused")
    for thread in threads:
        thread.join()
    assert server.process.wait(120) == 0

    assert len(answers) == SLOW_RUNS
    for answer in answers:
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"] == [ITERATIONS]
    again = ServerProcess(data_dir=tmp_path / "data", log_path=tmp_path / "wess.log").start()
    try:
        with again.client() as client:
            missing = [i for i in acknowledged if client.get(f"/v1/modules/{i}").status_code != 200]
        assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged lost"
    finally:
        assert again.stop() == 0
