"""Docs that must match the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from wess.cli.docs import render
from wess.config import SECTIONS, reference_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current():
    """docs/configuration.md's generated parts (sections, serve flags, example error,
    sandbox limits, every key) are what the code generates now."""
    text = (ROOT / "docs/configuration.md").read_text()
    assert render(text) == text, (
        "regenerate with `wess config reference --write docs/configuration.md`"
    )
    assert reference_markdown() in text


def test_rendering_fails_when_a_part_is_missing():
    """A generated part cannot silently disappear from the page."""
    text = (ROOT / "docs/configuration.md").read_text()
    start = text.index("<!-- generated: flags -->")
    end = text.index("<!-- end: flags -->") + len("<!-- end: flags -->")
    with pytest.raises(ValueError, match="flags"):
        render(text[:start] + text[end:])


def test_every_section_and_serve_flag_is_documented():
    """Each section of the settings and each option of `wess serve` appears in the page."""
    import typer

    from wess.cli import app

    text = (ROOT / "docs/configuration.md").read_text()
    for section in SECTIONS:
        assert f"### [{section}]" in text
        assert f"`[{section}]`" in text
    serve = typer.main.get_command(app).commands["serve"]
    for option in serve.params:
        assert f"| `{option.opts[0]}` |" in text


def test_the_example_error_is_what_wess_prints(monkeypatch, tmp_path):
    """The documented example error is what `wess config show` prints for that file."""
    from typer.testing import CliRunner

    from wess.cli import app
    from wess.config.reference import EXAMPLE_BAD_FILE

    text = (ROOT / "docs/configuration.md").read_text()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wess.toml").write_text(EXAMPLE_BAD_FILE)
    result = CliRunner().invoke(app, ["config", "show", "--config", "wess.toml"], env={})
    assert result.exit_code == 2
    assert f"```\n{result.stderr}```" in text
    assert f"```toml\n{EXAMPLE_BAD_FILE}```" in text


def test_the_original_wess_files_are_shown_verbatim():
    """The original Wess's wess.toml and ARCH.md example, which a test loads, are the
    ones docs/configuration.md shows."""
    from tests.test_config_original import ARCH_EXAMPLE, ORIGINAL_WESS_TOML

    text = (ROOT / "docs/configuration.md").read_text()
    for example in (ORIGINAL_WESS_TOML, ARCH_EXAMPLE):
        assert f"```toml\n{example}```" in text


def test_readme_config_table_matches_the_defaults():
    """Each row of the README's configuration table shows the real default."""
    reference = reference_markdown()
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows
    for row in rows:
        key, _, default = (cell.strip() for cell in row.strip("|").split("|")[:3])
        line = next(ln for ln in reference.splitlines() if ln.startswith(f"| {key} |"))
        shown = line.split("|")[3].strip()
        assert default == shown or (default == "unset" and shown == "`unset`"), (
            key,
            default,
            shown,
        )


STARTUP_ONLY = {"ConfigError", "CannotListen", "MigrationRequired", "ServerStopped"}
"""Errors that stop start-up and never reach an HTTP client."""


def test_every_error_code_is_documented():
    """docs/api.md's problem table lists every code an HTTP client can receive."""
    import inspect

    from wess import errors

    text = (ROOT / "docs/api.md").read_text()
    codes = {
        cls.code
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.WessError)
        and cls
        not in (
            errors.ConfigError,
            errors.CannotListen,
            errors.MigrationRequired,
            errors.ServerStopped,
        )
        # they stop start-up
        and cls.__subclasses__() == []
    }
    codes.add("internal_error")
    missing = sorted(code for code in codes if f"| `{code}` |" not in text)
    assert missing == []


def test_public_api_is_sorted_and_matches_the_readme():
    """wess.__all__ is sorted and is exactly the list the README gives."""
    import re

    import wess

    assert wess.__all__ == sorted(wess.__all__)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Embedding", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"`(\w+)`", section.split("`wess.__all__`", 1)[1])
    assert listed == wess.__all__
    for name in wess.__all__:
        assert getattr(wess, name) is not None


def test_readme_embedding_example_runs(monkeypatch, capsys):
    """The README's embedding example runs as printed and prints what it promises."""
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Embedding", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sum(i32, i32) -> (i32)"
    assert lines[1] == "[3]"
    assert lines[2].startswith("[3] ")
