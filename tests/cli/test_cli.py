"""The CLI's own logic: parsing `wess invoke` words, and `wess config show`."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from wess.cli import app, split_invocation


@pytest.mark.parametrize(
    ("words", "function", "args"),
    [
        (["sum", "1", "2"], "sum", [1, 2]),
        (["1", "2"], None, [1, 2]),
        (["f", "1.5", "NaN", "-Infinity"], "f", [1.5, "NaN", "-Infinity"]),
        ([], None, []),
        (["bump"], "bump", []),
    ],
)
def test_invoke_words(words, function, args):
    """The first word is the function unless it is a number; the rest are JSON numbers."""
    assert split_invocation(words) == (function, args)


def test_invoke_rejects_non_numbers():
    """A word that is not a number is refused before anything is sent."""
    with pytest.raises(typer.BadParameter):
        split_invocation(["sum", "one"])


def test_config_show_prints_values_and_sources(monkeypatch, tmp_path):
    """`wess config show` names each key's value and where it came from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WESS_RUNNER_TIMEOUT", "30000")
    result = CliRunner().invoke(app, ["config", "show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if "runner.timeout" in row)
    assert "30000" in line
    assert "WESS_RUNNER_TIMEOUT" in line


def test_config_show_reports_bad_values(monkeypatch, tmp_path):
    """A bad value ends `wess config show` with status 2 and a message naming the key."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WESS_SERVER_PORT", "-1")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "server.port" in result.output


def test_config_errors_print_brackets_and_long_lines_as_written(monkeypatch, tmp_path):
    """An error naming a [section] prints it (it is text, not console markup), on one line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wess.toml").write_text("[servr]\nport = 1\n")
    result = CliRunner().invoke(app, ["config", "show"], env={"COLUMNS": "40"})
    assert result.exit_code == 2
    assert result.stderr.startswith("error: config file wess.toml: unknown section [servr]; ")
    assert result.stderr.count("\n") == 1


def test_config_reference_prints_and_writes_the_generated_parts(tmp_path):
    """`wess config reference` prints every generated part; --write fills a page's
    marked parts and leaves its prose alone; a page missing a part is an error."""
    from wess.cli.docs import PARTS

    printed = CliRunner().invoke(app, ["config", "reference"])
    assert printed.exit_code == 0
    assert "| `server.port` |" in printed.stdout
    assert "| `--data-dir` |" in printed.stdout
    page = tmp_path / "page.md"
    page.write_text(
        "prose\n" + "".join(f"<!-- generated: {n} -->\n<!-- end: {n} -->\n" for n in PARTS)
    )
    written = CliRunner().invoke(app, ["config", "reference", "--write", str(page)])
    assert written.exit_code == 0, written.output
    assert page.read_text().startswith("prose\n<!-- generated: sections -->\n`[server]`")
    assert "| `server.port` |" in page.read_text()
    page.write_text("prose only\n")
    refused = CliRunner().invoke(app, ["config", "reference", "--write", str(page)])
    assert refused.exit_code == 1
    assert "expected each of" in refused.stderr
