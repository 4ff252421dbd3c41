"""The one error -> HTTP table: headers a refusal carries."""

from __future__ import annotations

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

from wess.api.app import build_api
from wess.api.problems import (
    CONTEXT_ITEMS,
    CONTEXT_LIMIT,
    DETAIL_LIMIT,
    legacy_response,
    problem_body,
    problem_response,
)
from wess.errors import InvalidRequest, RateLimited


def test_a_refusal_at_the_window_edge_says_reset_zero_and_retry_after_one():
    """RateLimit-Reset 0 is passed through as 0 (not replaced by Retry-After), both shapes."""
    refusal = RateLimited("too many requests", retry_after=1, limit=3, reset=0)
    for response in (problem_response(refusal, request_id="r-1"), legacy_response(refusal)):
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.headers["ratelimit-reset"] == "0"
        assert response.headers["ratelimit-remaining"] == "0"
        assert response.headers["ratelimit-limit"] == "3"


def test_a_detail_is_bounded_whatever_raised_it():
    """A detail of 100,000 characters is cut to DETAIL_LIMIT between words and marked,
    in both shapes; context texts and lists are bounded too."""
    error = InvalidRequest(
        "unknown field(s): " + ", ".join(f"k{index}" for index in range(20_000)),
        field="x" * 100_000,
        errors=[f"e{index}" for index in range(10_000)],
    )
    body = problem_body(error, request_id="r-1")
    assert len(body["detail"]) <= DETAIL_LIMIT
    assert body["detail"].endswith("[…]")
    assert len(body["field"]) <= CONTEXT_LIMIT
    assert len(body["errors"]) <= CONTEXT_ITEMS
    legacy = orjson.loads(legacy_response(error).body)
    assert legacy["message"] == body["detail"]
    assert len(problem_response(error, request_id="r-1").body) < 2 * DETAIL_LIMIT + 4096


async def test_framework_validation_errors_are_named_in_part(client):
    """A RequestValidationError with 10,000 errors: a 400 naming five, counting the rest."""
    handler = build_api(client.state).exception_handlers[RequestValidationError]
    errors = [
        {"loc": ("query", f"p{index}"), "msg": "Field required", "type": "missing"}
        for index in range(10_000)
    ]
    scope = {"type": "http", "method": "GET", "path": "/v1/x", "headers": [], "query_string": b""}
    response = handler(Request(scope), RequestValidationError(errors))
    detail = orjson.loads(response.body)["detail"]
    assert detail.startswith("the request is invalid: query.p0: Field required, query.p1")
    assert detail.endswith("and 9,995 more")
