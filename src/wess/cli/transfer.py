"""``wess export`` and ``wess import``: a store as a dump (wess-export/1) and back.

Both work against a running server (through ``/v1/admin/export`` and
``/v1/admin/import``, streamed) or, with ``--data-dir``, offline on a stopped server's
data directory. ``import`` reads the whole dump once first (every module against its
digest, the order, the manifest), so a damaged dump is refused before anything is
written; then it imports, and reports what became of every record.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from wess.cli.common import (
    DEFAULT_URL,
    CaOption,
    ConfigOption,
    DataDirOption,
    KeyOption,
    UrlOption,
    connect,
    err,
    failures,
    settings,
)
from wess.cli.output import Column, Output, OutputOption, emit
from wess.cli.progress import Meter
from wess.config import Settings

app = typer.Typer()

CHUNK = 1 << 20
SINGULAR = {"modules": "module", "keys": "key", "audit": "audit entries"}
COUNT_COLUMNS = (
    Column("RECORDS", lambda row: row["kind"]),
    Column("IMPORTED", lambda row: row["imported"]),
    Column("PRESENT", lambda row: row["present"]),
    Column("CONFLICT", lambda row: row["conflict"]),
    Column("SKIPPED", lambda row: row["skipped"]),
)


@app.command("export")
def export_store(
    namespace: Annotated[
        str | None,
        typer.Option(metavar="NAMESPACE", help="Only this namespace's modules, keys and audit."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="TIME",
            help="Only modules updated and keys created since (RFC 3339 with an offset), "
            "and the audit log from then on.",
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", metavar="FILE", help="Write here, not to stdout.")
    ] = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Write the store as a dump (NDJSON, wess-export/1) to stdout or --file: modules with
    their bytes, key records (hashes, never tokens), the audit log, and a manifest."""
    if file is None and sys.stdout.isatty():
        err.print("error: a dump is not for a terminal: redirect it (> dump.ndjson) or use --file")
        raise typer.Exit(2)
    sink: IO[bytes] = sys.stdout.buffer if file is None else file.open("wb")
    try:
        with Meter("exporting", console=err) as meter:
            if data_dir is None:
                with connect(url, key, ca) as client:
                    _write(client.export(namespace=namespace, since=since), sink, meter)
            else:
                chosen = _offline_settings(config, data_dir)
                with failures():
                    asyncio.run(_export_offline(chosen, namespace, since, sink, meter))
    finally:
        if file is not None:
            sink.close()


def _write(chunks: Iterator[bytes], sink: IO[bytes], meter: Meter) -> None:
    lines = written = 0
    for chunk in chunks:
        sink.write(chunk)
        lines += chunk.count(b"\n")
        written += len(chunk)
        meter.update(lines, written)
    sink.flush()


async def _export_offline(
    chosen: Settings, namespace: str | None, since: str | None, sink: IO[bytes], meter: Meter
) -> None:
    from wess import __version__
    from wess.cli.offline import offline
    from wess.ops.dump import parse_since
    from wess.ops.exporting import ExportOptions, export_dump

    options = ExportOptions(namespace=namespace, since=parse_since(since) if since else None)
    async with offline(chosen) as session:
        lines = written = 0
        dump = export_dump(
            session.store,
            audit_chain=session.audit_key.chain,
            wess_version=__version__,
            options=options,
        )
        async for line in dump:
            sink.write(line)
            lines, written = lines + 1, written + len(line)
            meter.update(lines, written)
    sink.flush()


@app.command("import")
def import_store(
    dump: Annotated[
        Path, typer.Argument(metavar="DUMP", help="A dump written by wess export ('-': stdin).")
    ],
    map_namespace: Annotated[
        list[str] | None,
        typer.Option(
            "--map-namespace",
            metavar="FROM=TO",
            help="Import FROM's modules and keys into namespace TO (repeatable).",
        ),
    ] = None,
    rechain_audit: Annotated[
        bool,
        typer.Option(
            "--rechain-audit",
            help="Audit entries that cannot continue this log as they are (another server "
            "secret, a namespace's excerpt): append them under this server's key, after a "
            "boundary entry naming where they came from.",
        ),
    ] = False,
    output: OutputOption = Output.TABLE,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Import a dump: modules (same ids, revisions and bytes), keys and audit entries.
    Twice changes nothing; what is skipped is reported with the reason."""
    from wess.ops.importing import namespace_map

    with failures():
        namespaces = namespace_map(map_namespace or [])
    with Spooled(dump) as path:
        size = path.stat().st_size
        _check(path, size)
        if data_dir is None:
            with (
                connect(url, key, ca) as client,
                Meter("importing", console=err, total_bytes=size) as meter,
            ):
                report = client.import_dump(
                    _chunks(path, meter), namespaces=namespaces, rechain_audit=rechain_audit
                )
        else:
            chosen = _offline_settings(config, data_dir, must_exist=False)
            with failures(), Meter("importing", console=err, total_bytes=size) as meter:
                report = asyncio.run(
                    _import_offline(chosen, path, namespaces, rechain_audit, meter)
                )
    _print_report(report, output)
    if not report["ok"]:
        raise typer.Exit(1)


def _check(path: Path, size: int) -> None:
    """Read the whole dump once: refuse a damaged one before anything is written."""
    from wess.ops.dump import DumpError, DumpReader

    reader = DumpReader()
    try:
        with path.open("rb") as handle, Meter("checking", console=err, total_bytes=size) as meter:
            done = 0
            for line in handle:
                reader.feed(line)
                done += len(line)
                meter.update(reader.lines, done)
            reader.finish()
    except DumpError as exc:
        err.print(f"error: {path} is not a whole dump, nothing was imported: {exc.detail}")
        raise typer.Exit(1) from None


def _chunks(path: Path, meter: Meter) -> Iterator[bytes]:
    lines = sent = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            lines += chunk.count(b"\n")
            sent += len(chunk)
            meter.update(lines, sent)
            yield chunk


async def _import_offline(
    chosen: Settings, path: Path, namespaces: dict[str, str], rechain: bool, meter: Meter
) -> dict[str, Any]:
    from wess.cli.offline import local_actor, offline, writing
    from wess.messages import RecordAudit
    from wess.models import AuditFields
    from wess.ops.importing import Importer, ImportOptions, import_dump

    async with offline(chosen) as session, writing(session) as writer:

        async def summarize(fields: AuditFields) -> None:
            await writer.submit(RecordAudit(fields=fields))

        importer = Importer(
            actor=local_actor(),
            audit=session.store.audit,
            audit_chain=session.audit_key.chain,
            submit=writer.submit,
            summarize=summarize,
        )
        options = ImportOptions(namespaces=namespaces, rechain_audit=rechain)
        report = await import_dump(
            _file_lines(path), importer, options=options, progress=meter.update
        )
    return report.to_dict()


async def _file_lines(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            yield line


def _print_report(report: dict[str, Any], output: Output) -> None:
    if output is Output.JSON:
        typer.echo(json.dumps(report, indent=2))
        return
    rows = [{"kind": kind, **counts} for kind, counts in report["counts"].items()]
    emit(rows, COUNT_COLUMNS, output)
    for item in report["skipped"]:
        what = SINGULAR.get(item["kind"], item["kind"])
        typer.echo(f"{what} {item['id']}: {item['reason']}")
    for item in report["source_skipped"]:
        typer.echo(f"not in the dump (the export could not read it): {item['kind']} {item['id']}")
    if report["error"]:
        err.print(f"error: the import stopped: {report['error']}")


class Spooled:
    """The dump as a file: ``-`` (stdin) is copied to a temporary file first, since an
    import reads it twice."""

    def __init__(self, dump: Path) -> None:
        self._dump = dump
        self._temporary: Any = None

    def __enter__(self) -> Path:
        if str(self._dump) != "-":
            if not self._dump.is_file():
                raise typer.BadParameter(f"{self._dump} is not a file", param_hint="DUMP")
            return self._dump
        self._temporary = tempfile.NamedTemporaryFile(prefix="wess-import-", suffix=".ndjson")
        shutil.copyfileobj(sys.stdin.buffer, self._temporary)
        self._temporary.flush()
        return Path(self._temporary.name)

    def __exit__(self, *exc: object) -> None:
        if self._temporary is not None:
            self._temporary.close()


def _offline_settings(config: Path | None, data_dir: Path, *, must_exist: bool = True) -> Settings:
    from urllib.parse import urlsplit

    chosen = settings(config, {"database.path": data_dir})
    if urlsplit(chosen.database.effective_url).scheme == "memory":
        err.print(
            "error: --data-dir works on a store that outlives a process: the embedded "
            "RocksDB store, or PostgreSQL (database.url, with the server secret in --data-dir)"
        )
        raise typer.Exit(2)
    if must_exist and not data_dir.is_dir():
        err.print(f"error: {data_dir} is not a directory: no store there")
        raise typer.Exit(2)
    return chosen
