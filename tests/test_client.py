"""wess.client: requests as the API expects them, and every refusal as a typed error."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import free_port
from wess.client import Client, error_from, unique_match
from wess.errors import (
    InvalidRequest,
    KeyNotFound,
    ModuleNotFound,
    RateLimited,
    ServerUnreachable,
    Trap,
    Unauthenticated,
    WessError,
)

MODULE = {
    "id": "3fa2c1d0-0000-4000-8000-000000000001",
    "name": "adder",
    "namespace": "team-a",
    "digest": "sha256:00",
    "size": 41,
    "revision": 1,
    "created_at": "2026-01-31T00:00:00+00:00",
    "updated_at": "2026-01-31T00:00:00+00:00",
    "default_function": "sum",
    "function_count": 1,
}


def problem(status: int, code: str, **members: object) -> httpx.Response:
    body = {"type": f"urn:wess:problem:{code}", "title": "t", "status": status, "code": code}
    return httpx.Response(
        status,
        json={"detail": f"{code} happened", **body, **members},
        headers={"content-type": "application/problem+json"},
    )


def client_of(handler) -> Client:
    return Client("http://wess.test", token="wess_t", transport=httpx.MockTransport(handler))


def test_a_problem_becomes_the_error_its_code_names() -> None:
    """404 module_not_found raises ModuleNotFound with the detail and the problem's
    members (request id, status) in its context."""
    wess = client_of(lambda request: problem(404, "module_not_found", request_id="r-1"))
    with pytest.raises(ModuleNotFound, match="module_not_found happened") as caught:
        wess.get(MODULE["id"])
    assert caught.value.context["request_id"] == "r-1"
    assert caught.value.context["status"] == 404


@pytest.mark.parametrize(
    ("response", "kind", "check"),
    [
        (problem(401, "unauthenticated"), Unauthenticated, lambda e: True),
        (problem(422, "trap", kind="unreachable"), Trap, lambda e: e.kind == "unreachable"),
        (
            httpx.Response(429, json={"code": "rate_limited"}, headers={"retry-after": "7"}),
            RateLimited,
            lambda e: e.retry_after == 7,
        ),
        (problem(418, "a_code_from_the_future"), WessError, lambda e: e.context["status"] == 418),
        (httpx.Response(502, text="bad gateway"), WessError, lambda e: "bad gateway" in e.detail),
    ],
)
def test_special_errors_keep_what_they_carry(response, kind, check) -> None:
    """Errors built differently (an auth failure, a trap's kind, a retry delay) are
    built right; an unknown code or a proxy's page is a plain WessError."""
    with pytest.raises(kind) as caught:
        client_of(lambda request: response).get(MODULE["id"])
    assert check(caught.value)


def test_error_from_covers_every_code() -> None:
    """Every code of the error tree maps back to its own class."""
    from wess.client import ERRORS

    for code, cls in ERRORS.items():
        assert type(error_from(400, {"code": code, "detail": "x", "kind": "k"}, {})) is cls


def test_no_server_is_server_unreachable() -> None:
    """A refused connection raises ServerUnreachable naming the URL; nothing exits."""
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url) as wess, pytest.raises(ServerUnreachable, match=url):
        wess.get(MODULE["id"])


def test_listing_follows_cursors_and_runs_send_limits() -> None:
    """modules() reads every page; run() sends the function, args and lowered limits."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/modules":
            last = request.url.params.get("cursor") == "c2"
            item = {**MODULE, "id": "b" if last else "a"}
            return httpx.Response(
                200, json={"items": [item], "next_cursor": None if last else "c2"}
            )
        return httpx.Response(
            200, json={"results": [3], "function": "sum", "duration_us": 5, "fuel_used": 4}
        )

    wess = client_of(handler)
    assert [module.id for module in wess.modules()] == ["a", "b"]
    outcome = wess.run("a", "sum", [-1, 2], timeout_ms=100, fuel=1000)
    assert (outcome.results, outcome.fuel_used) == ([3], 4)
    assert json.loads(seen[-1].content) == {
        "args": [-1, 2],
        "function": "sum",
        "limits": {"timeout_ms": 100, "fuel": 1000},
    }
    assert seen[-1].headers["authorization"] == "Bearer wess_t"


def test_a_unique_prefix_names_one_id() -> None:
    """Like git: a prefix that fits one id gives it; none or several are refused."""
    ids = ["0123456789abcdef", "01ffffffffffffff", "a000000000000000"]
    assert unique_match("a", ids, what="API key") == "a000000000000000"
    assert unique_match("012", ids, what="API key") == "0123456789abcdef"
    with pytest.raises(KeyNotFound):
        unique_match("b", ids, what="API key")
    with pytest.raises(InvalidRequest, match="names 2 API keys"):
        unique_match("01", ids, what="API key")
