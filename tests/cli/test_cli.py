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


def every_help() -> dict[str, str]:
    """The help page of every command and group of `wess`, by its full name."""
    from wess.cli import command

    pages: dict[str, str] = {}

    def walk(cmd, name: str, parent) -> None:
        ctx = cmd.context_class(cmd, info_name=name, parent=parent, terminal_width=80)
        pages[ctx.command_path] = cmd.get_help(ctx)
        for sub_name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, sub_name, ctx)

    walk(command(), "wess", None)
    return pages


def test_help_shows_no_type_noise():
    """No page says <bool>, <str>, <int>, <path> or {name}: options show what to type
    (--port PORT), flags nothing, arguments their name (ID, [FUNCTION] [ARGS]...)."""
    pages = every_help()
    assert {"wess", "wess invoke", "wess backup restore", "wess keys revoke"} <= pages.keys()
    noisy = {
        name: [line for line in page.splitlines() if "<" in line or "{" in line]
        for name, page in pages.items()
    }
    assert {name: lines for name, lines in noisy.items() if lines} == {}
    assert "Usage: wess invoke [OPTIONS] ID [FUNCTION] [ARGS]..." in pages["wess invoke"]
    assert "--timeout-ms MS" in pages["wess invoke"]


def test_every_listing_command_offers_output_formats():
    """ls, keys list, audit log and backup list take --output table|wide|json."""
    pages = every_help()
    for name in ("wess ls", "wess keys list", "wess audit log", "wess backup list"):
        assert "-o, --output table|wide|json" in pages[name], name


def test_version_and_completion():
    """--version prints the version; completion scripts are offered and printed."""
    from wess import __version__

    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert (version.exit_code, version.stdout) == (0, f"wess {__version__}\n")
    assert "--install-completion" in every_help()["wess"]
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="wess")
    assert script.exit_code == 0
    assert "_wess_completion" in script.stdout


def test_a_usage_error_is_one_line_however_narrow_the_terminal():
    """A refused value lists what is allowed on one line, never wrapped mid-list."""
    result = CliRunner().invoke(
        app, ["keys", "create", "--namespace", "a", "--role", "bogus"], env={"COLUMNS": "30"}
    )
    assert result.exit_code == 2
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1
    assert "'admin', 'developer', 'invoker', 'viewer'" in error[0]


def test_tables_never_cut_values():
    """An aligned table keeps every value whole, whatever its length."""
    from wess.cli.output import Column, table_text

    long_id = "0123456789abcdef" * 4
    text = table_text(
        [{"id": long_id, "n": None}, {"id": "x", "n": 2}],
        [Column("ID", lambda r: r["id"]), Column("N", lambda r: r["n"], wide=True)],
        wide=True,
    )
    assert text.splitlines() == [f"ID{' ' * 62}  N", f"{long_id}  -", f"x{' ' * 63}  2"]


def test_json_args_and_words_do_not_mix():
    """--json-args is the arguments, as a JSON array; words besides it are refused."""
    from wess.cli.modules import parse_json_args

    assert parse_json_args("[1, -2.5]") == [1, -2.5]
    with pytest.raises(typer.BadParameter):
        parse_json_args('{"a": 1}')
    result = CliRunner().invoke(app, ["invoke", "id", "f", "1", "--json-args", "[2]"])
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_negative_numbers_are_arguments():
    """`-1` and `-Infinity` after the function are arguments, not options."""
    assert split_invocation(["f", "-1", "-2.5", "-Infinity"]) == ("f", [-1, -2.5, "-Infinity"])


def test_progress_is_plain_lines_off_a_terminal_and_a_bar_on_one():
    """Piped, progress is a line at the start, one every N items and one at the end;
    on a terminal it is a live bar with the counts and bytes."""
    import io

    from rich.console import Console

    from wess.cli.progress import Meter

    plain = io.StringIO()
    with Meter("importing", console=Console(file=plain), total_bytes=4096, every=2) as meter:
        for count in range(1, 6):
            meter.update(count, count * 800)
    assert plain.getvalue().splitlines() == [
        "importing ...",
        "importing: 2 records, 1.6 KiB of 4.0 KiB",
        "importing: 4 records, 3.1 KiB of 4.0 KiB",
        "importing: done, 5 records, 3.9 KiB of 4.0 KiB",
    ]
    live = io.StringIO()
    terminal = Console(file=live, force_terminal=True, width=120)
    with Meter("exporting", console=terminal) as meter:
        meter.update(42, 2048)
    assert "exporting" in live.getvalue()
    assert "42 records" in live.getvalue()
