"""Docs that must match the code."""

from __future__ import annotations

from pathlib import Path

from wess.config import reference_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current():
    """docs/configuration.md lists every key with its current default and bounds."""
    text = (ROOT / "docs/configuration.md").read_text()
    assert reference_markdown() in text, "regenerate with `wess config reference`"


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


def test_every_error_code_is_documented():
    """docs/api.md's problem table lists every code an HTTP client can receive."""
    import inspect

    from wess import errors

    text = (ROOT / "docs/api.md").read_text()
    codes = {
        cls.code
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.WessError)
        and cls not in (errors.ConfigError, errors.CannotListen)  # they stop start-up
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
