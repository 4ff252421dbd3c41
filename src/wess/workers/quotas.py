"""Namespace quotas: how many modules, and how many bytes of wasm, a namespace may keep.

The Writer loads the usage once (``ModuleStore.namespace_usage``) and keeps it
current itself: it is the only writer. Each batch works on a ``UsageDraft`` (the usage
as the batch's earlier jobs left it), merged into the ``QuotaLedger`` only once the
batch is committed, so a failed commit charges nothing.

Only growth is checked: an update that shrinks a module, or a delete, always passes,
even in a namespace that is over a quota lowered since. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from wess.errors import QuotaExceeded
from wess.models import ModuleInfo
from wess.storage import NamespaceUsage


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    """Limits of one namespace; None is unlimited."""

    max_modules: int | None = None
    max_bytes: int | None = None
    """Bytes of wasm (the modules' sizes), not counting artifacts or metadata."""

    def __post_init__(self) -> None:
        for name in ("max_modules", "max_bytes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be at least 0, not {value}")


UNLIMITED = Quota()


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceQuotas:
    """The quota of every namespace: ``default``, unless ``overrides`` names it."""

    default: Quota = UNLIMITED
    overrides: Mapping[str, Quota] = field(default_factory=dict)

    def of(self, namespace: str) -> Quota:
        return self.overrides.get(namespace, self.default)


Usage = tuple[int, int]
"""(modules, bytes of wasm)."""


class QuotaLedger:
    """The committed usage of every namespace, and the quotas it is held to."""

    def __init__(self, quotas: NamespaceQuotas, usage: NamespaceUsage) -> None:
        self.quotas = quotas
        self._usage: dict[str, Usage] = dict(usage)

    def usage(self, namespace: str) -> Usage:
        return self._usage.get(namespace, (0, 0))

    def draft(self, *, after: UsageDraft | None = None) -> UsageDraft:
        """A view for one batch; ``merge`` it once the batch is committed. ``after``: the
        draft of a batch still in flight, which this batch's usage builds on."""
        return UsageDraft(self, after=after)

    def merge(self, draft: UsageDraft) -> None:
        for namespace, usage in draft.changed.items():
            if usage == (0, 0):
                self._usage.pop(namespace, None)
            else:
                self._usage[namespace] = usage
        draft.merged = True
        draft.forget_earlier()


class UsageDraft:
    """Usage after the earlier jobs of a batch; ``charge`` checks and records one job."""

    def __init__(self, ledger: QuotaLedger, *, after: UsageDraft | None = None) -> None:
        self._ledger = ledger
        self._after = after
        self.changed: dict[str, Usage] = {}
        self.merged = False

    def forget_earlier(self) -> None:
        """Drop the draft this one builds on (merged: the ledger holds what it knew)."""
        self._after = None

    def usage(self, namespace: str) -> Usage:
        if namespace in self.changed:
            return self.changed[namespace]
        after = self._after
        if after is not None:
            if not after.merged:
                return after.usage(namespace)
            self._after = None  # in the ledger now: no chain of drafts to keep
        return self._ledger.usage(namespace)

    def charge(self, before: ModuleInfo | None, after: ModuleInfo | None) -> None:
        """Record a module going from ``before`` to ``after`` (None: absent); raise
        ``QuotaExceeded`` instead if that grows a namespace past its quota."""
        deltas: dict[str, list[int]] = {}
        if before is not None:
            delta = deltas.setdefault(before.namespace, [0, 0])
            delta[0], delta[1] = delta[0] - 1, delta[1] - before.size
        if after is not None:
            delta = deltas.setdefault(after.namespace, [0, 0])
            delta[0], delta[1] = delta[0] + 1, delta[1] + after.size
        updated: dict[str, Usage] = {}
        for namespace, (modules, size) in deltas.items():
            now_modules, now_bytes = self.usage(namespace)
            quota = self._ledger.quotas.of(namespace)
            limit = quota.max_modules
            if modules > 0 and limit is not None and now_modules + modules > limit:
                raise QuotaExceeded(
                    f"namespace {namespace!r} holds {now_modules} modules; its quota is "
                    f"{limit} modules",
                    namespace=namespace,
                    quota={"max_modules": limit},
                    usage={"modules": now_modules},
                )
            if size > 0 and quota.max_bytes is not None and now_bytes + size > quota.max_bytes:
                raise QuotaExceeded(
                    f"namespace {namespace!r} holds {now_bytes} bytes of wasm; {size} more "
                    f"would exceed its quota of {quota.max_bytes} bytes",
                    namespace=namespace,
                    quota={"max_bytes": quota.max_bytes},
                    usage={"bytes": now_bytes, "requested": size},
                )
            updated[namespace] = (now_modules + modules, now_bytes + size)
        self.changed.update(updated)
