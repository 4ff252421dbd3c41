"""`wess deploy app.py --wit world.wit` before anything reaches a server: relative paths,
and componentize-py's refusals as one error line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from wess.cli import app
from wess.cli.python_components import INSTALL, available


@pytest.mark.skipif(not available(), reason=f"componentize-py is not installed: {INSTALL}")
def test_a_build_error_is_one_line_naming_the_cause(tmp_path, monkeypatch):
    """A world componentize-py refuses is one error line with its reason (exit 1), the
    relative --wit path read from where the user stands."""
    (tmp_path / "world.wit").write_text(
        "package wess:broken;\nworld broken { export f: func() -> no-such-type; }\n"
    )
    (tmp_path / "app.py").write_text("")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["deploy", "app.py", "--wit", "world.wit", "--url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 1
    assert "componentize-py could not build app.py" in result.output
    assert "no-such-type" in result.output
    assert "Traceback (most recent call last):\n" not in result.output


def test_a_python_module_needs_its_world(tmp_path):
    """--wit is required for a .py file, and only for one."""
    (tmp_path / "app.py").write_text("")
    missing = CliRunner().invoke(app, ["deploy", str(tmp_path / "app.py")])
    assert missing.exit_code == 2
    assert "--wit" in missing.output
