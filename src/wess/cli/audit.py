"""``wess audit verify``: recompute the audit log's hash chain."""

from __future__ import annotations

import typer

from wess.cli.common import DEFAULT_URL, CaOption, Client, KeyOption, UrlOption, err, out
from wess.models import AuditEntry
from wess.security.audit import verify

app = typer.Typer(help="The audit log.", no_args_is_help=True)
PAGE = 1000


@app.command("verify")
def verify_chain(url: UrlOption = DEFAULT_URL, key: KeyOption = None, ca: CaOption = None) -> None:
    """Fetch every entry and check the chain; name the first broken link (exit 1)."""
    client = Client(url, key, ca)
    entries: list[AuditEntry] = []
    after = 0
    while True:
        page = client.call("GET", "/v1/audit", params={"after": str(after), "limit": str(PAGE)})
        entries += [AuditEntry.from_dict(item) for item in page["items"]]
        if page["next_cursor"] is None:
            break
        after = int(page["next_cursor"])
    result = verify(entries)
    if result.ok:
        out.print(f"audit log intact: {result.checked} entries")
        return
    err.print(
        f"audit log broken at entry {result.broken_at} ({result.reason}); "
        f"{result.checked} entries before it verify"
    )
    raise typer.Exit(1)
