"""The domain types' own rules."""

from __future__ import annotations

import pytest

from wess.models import NAMESPACE_MAX, is_namespace_name


@pytest.mark.parametrize("name", ["default", "team-a", "a", "x" * NAMESPACE_MAX, "équipe 7"])
def test_namespace_names(name):
    """1 to NAMESPACE_MAX printable characters name a namespace."""
    assert is_namespace_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "x" * (NAMESPACE_MAX + 1), "a\r\nb", "a\nb", "tab\there", "nul\x00", "\x1b[31m", 7, None],
)
def test_not_namespace_names(name):
    """Empty, too long, control characters (line breaks forge log lines) or no string."""
    assert not is_namespace_name(name)
