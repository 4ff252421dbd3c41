"""The one error -> HTTP table: headers a refusal carries."""

from __future__ import annotations

from wess.api.problems import legacy_response, problem_response
from wess.errors import RateLimited


def test_a_refusal_at_the_window_edge_says_reset_zero_and_retry_after_one():
    """RateLimit-Reset 0 is passed through as 0 (not replaced by Retry-After), both shapes."""
    refusal = RateLimited("too many requests", retry_after=1, limit=3, reset=0)
    for response in (problem_response(refusal, request_id="r-1"), legacy_response(refusal)):
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.headers["ratelimit-reset"] == "0"
        assert response.headers["ratelimit-remaining"] == "0"
        assert response.headers["ratelimit-limit"] == "3"
