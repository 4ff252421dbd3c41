"""Schemathesis against a real server's /openapi.json: every /v1 operation, with an
admin key, all default checks, and the stateful links (create -> read, run, replace,
delete). A bounded number of examples per operation in `make test`, more in
`make chaos`; zero failures.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck

from tests.chaos.conftest import UNLIMITED, chaos_level
from tests.fixtures import distinct_sum
from tests.support import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
EXAMPLES = chaos_level().pick(short=8, full=100)
STEPS = chaos_level().pick(short=3, full=50)
SETTINGS = {
    **UNLIMITED,
    "WESS_RUNNER_TIMEOUT": "500",
    "WESS_RUNNER_BREAKER_FAILURES": "0",
}
UPLOADS = ("POST /v1/modules", "PUT /v1/modules/{module_id}")
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


@pytest.fixture(scope="module")
def wess_server(tmp_path_factory) -> Iterator[ServerProcess]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    server = ServerProcess(data_dir=root / "data", log_path=root / "wess.log", env=SETTINGS)
    server.start()
    try:
        yield server
    finally:
        assert server.stop() == 0


CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            # Some rules of Wess are more than JSON Schema can state, and are documented in
            # the parameter's description instead: names and namespaces of printable
            # characters (str.isprintable), page sizes capped by limits.max_page_size, RFC
            # 3339 times and namespace maps in query strings, and rotate-kek when
            # encryption at rest is off. Wess refuses those with 400 invalid_request naming
            # the field, which this check would take for a valid request rejected.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", 400, 401, 403, 404, 409, 429, "5xx"]
            }
        }
    }
)


def loaded(server: ServerProcess) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=CONFIG)
    schema.config.update(base_url=server.url)
    token = server.token

    @schema.auth()
    class AdminKey:
        """The bootstrap admin key, set as the operations' declared bearer scheme: so
        Schemathesis knows it and can check that requests without it are refused."""

        def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
            return token

        def set(
            self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext
        ) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema.include(path_regex="^/v1/")


def test_every_v1_operation_passes_the_default_checks(wess_server, record):
    """Each /v1 operation's generated requests (valid and invalid, by Hypothesis from its
    schema), each answer checked by every default check of Schemathesis."""
    failures: list[str] = []
    operations = examples = 0
    for result in loaded(wess_server).get_all_operations():
        operation = result.ok()
        operations += 1

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=SUPPRESSED,
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            nonlocal examples
            examples += 1
            case.call_and_validate()

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # Schemathesis's FailureGroup
            failures.append(f"{operation.label}: {exc}")
    assert failures == [], "\n\n".join(failures)
    assert operations >= 10
    record(kind="operations", operations=operations, examples=examples, failures=0)


def test_stateful_links_pass_the_default_checks(wess_server, record):
    """Sequences of calls following the links the schema declares (and those Schemathesis
    infers from Location headers and path parameters)."""
    schema = loaded(wess_server)
    serial = itertools.count()

    @schema.hook
    def map_case(context: schemathesis.HookContext, case: schemathesis.Case):
        """Uploads carry a real module (Schemathesis cannot generate valid WebAssembly),
        so the links from a created module to its reads, runs, updates and delete are
        walked; malformed bytes are the hostile suite's."""
        if case.operation.label not in UPLOADS:
            return case
        content = distinct_sum(next(serial))
        if case.media_type == "application/wasm":
            case.body = content
        elif isinstance(case.body, dict):
            case.body = {"content": base64.b64encode(content).decode()}
        return case

    workflow = schema.as_state_machine()
    workflow.run(
        settings=hypothesis.settings(
            max_examples=STEPS,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=SUPPRESSED,
            derandomize=True,
            database=None,
        )
    )
    record(kind="stateful", sequences=STEPS)
