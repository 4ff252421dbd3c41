"""Export and import for a running server: its store to read, its Writer to write through.

The composition root builds one ``Transfer`` over the server's store and Writer; the
admin routes stream a dump out of ``export`` and a request body into ``import_dump``.
The same functions (``exporting.export_dump``, ``importing.import_dump``) serve
``wess export`` and ``wess import`` offline, on a data directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from wess.messages import ImportRecords, ImportResult
from wess.models import AuditFields
from wess.ops.dump import line_limit, lines_of
from wess.ops.exporting import ExportOptions, export_dump
from wess.ops.importing import Importer, ImportOptions, ImportReport, import_dump
from wess.storage import Store


class Transfer:
    """Streams a store out as a dump, and a dump in through the Writer (``submit``)."""

    def __init__(
        self,
        store: Store,
        *,
        audit_chain: str,
        submit: Callable[[ImportRecords], Awaitable[ImportResult]],
        record_audit: Callable[[AuditFields], Awaitable[None]],
        wess_version: str,
        max_module_size: int,
    ) -> None:
        self._store = store
        self._chain = audit_chain
        self._submit = submit
        self._record = record_audit
        self._version = wess_version
        self.line_limit = line_limit(max_module_size)

    def export(self, options: ExportOptions) -> AsyncIterator[bytes]:
        """The store's dump, line by line."""
        return export_dump(
            self._store, audit_chain=self._chain, wess_version=self._version, options=options
        )

    async def import_dump(
        self,
        chunks: AsyncIterator[bytes],
        *,
        options: ImportOptions,
        actor: str,
        client_ip: str | None,
        request_id: str | None,
    ) -> ImportReport:
        """Import the dump ``chunks`` carry (split into lines here, each bounded)."""
        importer = Importer(
            actor=actor,
            audit=self._store.audit,
            audit_chain=self._chain,
            submit=self._submit,
            summarize=self._record,
            client_ip=client_ip,
            request_id=request_id,
        )
        lines = lines_of(chunks, limit=self.line_limit)
        return await import_dump(lines, importer, options=options)
