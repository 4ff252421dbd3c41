"""Frozen domain types: what Wess stores (modules, API keys, audit entries), independent
of storage and HTTP. Storage encodes these; nothing here does I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

SCHEMA_VERSION = 1
"""Version of the stored record layout; bumped by migrations, checked on every read."""

DEFAULT_NAMESPACE = "default"
"""Namespace of every module until tenants arrive; part of every key already."""
NAMESPACE_MAX = 64
"""Longest namespace name, in characters."""

COMMAND_ENTRY = "_start"
"""A WASI command's entry point (preview 1)."""


def is_namespace_name(name: object) -> bool:
    """Whether ``name`` may name a namespace: a string of 1 to ``NAMESPACE_MAX``
    printable characters (no CR, LF or other control characters, which would forge log
    lines). The one rule for every namespace, whether an API key or a JWT names it."""
    return isinstance(name, str) and 0 < len(name) <= NAMESPACE_MAX and name.isprintable()


class ValueType(StrEnum):
    """The WebAssembly number types a Wess function may take and return."""

    I32 = "i32"
    I64 = "i64"
    F32 = "f32"
    F64 = "f64"

    @property
    def legacy_name(self) -> str:
        """The spelling of the original Wess metadata (``"I32"``)."""
        return self.value.upper()


@dataclass(frozen=True, slots=True)
class FunctionSignature:
    """One exported function: its name and the types it takes and returns.

    A component's function has its component-model type in ``wit``
    (``func(who: string) -> string``) and no core ``params`` or ``results``.
    """

    name: str
    params: tuple[ValueType, ...]
    results: tuple[ValueType, ...]
    wit: str | None = None

    def describe(self) -> str:
        """``sum(i32, i32) -> (i32)``: for messages that name a signature."""
        if self.wit is not None:
            return f"{self.name}: {self.wit}"
        params = ", ".join(self.params)
        results = ", ".join(self.results)
        return f"{self.name}({params}) -> ({results})"


@dataclass(frozen=True, slots=True)
class LegacyMetadata:
    """The ``metadata`` object of the original Wess API, kept as the client sent it."""

    function_name: str
    args: tuple[str, ...]
    return_type: tuple[str, ...]


HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
MODULE_NAME_MAX = 128
"""Longest module name, in characters."""


def is_uuid(text: str) -> bool:
    """Whether ``text`` spells a UUID in any of the forms ``uuid.UUID`` reads (with or
    without hyphens, braces or ``urn:uuid:``, in either case). The PostgreSQL
    migration that indexes names (``0003_revisions.sql``) applies the same rule."""
    digits = text.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    return len(digits) == 32 and all(c in HEX_DIGITS for c in digits)


def is_addressable_name(name: str) -> bool:
    """Whether a module's ``name`` addresses it (is unique in its namespace and usable
    where an id is): every name but one that parses as a UUID, which is how a module
    uploaded without a name (the original API's, say) is named after its id."""
    return not is_uuid(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class RevisionRef:
    """One retained revision of a module, as its current record lists it."""

    number: int
    digest: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AliasTarget:
    """A revision an alias points at, with its share of the calls (a weight > 0)."""

    revision: int
    weight: int


@dataclass(frozen=True, slots=True)
class Alias:
    """A name for one revision of a module (``prod`` -> 3), or for a weighted split
    between several (a canary: 3 at 90, 4 at 10). Moving it is a rollback."""

    name: str
    targets: tuple[AliasTarget, ...]

    @property
    def revisions(self) -> tuple[int, ...]:
        return tuple(target.revision for target in self.targets)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleInfo:
    """Everything Wess knows about a stored module except its bytes."""

    id: UUID
    namespace: str
    name: str
    digest: str
    size: int
    revision: int
    created_at: datetime
    updated_at: datetime
    functions: tuple[FunctionSignature, ...]
    default_function: str | None = None
    legacy_metadata: LegacyMetadata | None = None
    schema_version: int = SCHEMA_VERSION
    revisions: tuple[RevisionRef, ...] = ()
    """The revisions kept, oldest first, the current one last; empty in a record written
    before revisions were kept: ``retained`` then answers the current one alone."""
    aliases: tuple[Alias, ...] = ()

    @property
    def retained(self) -> tuple[RevisionRef, ...]:
        """The revisions that may run, the current one last."""
        if self.revisions:
            return self.revisions
        current = RevisionRef(
            number=self.revision, digest=self.digest, size=self.size, created_at=self.updated_at
        )
        return (current,)

    def retained_revision(self, number: int) -> RevisionRef | None:
        for ref in self.retained:
            if ref.number == number:
                return ref
        return None

    def alias(self, name: str) -> Alias | None:
        for alias in self.aliases:
            if alias.name == name:
                return alias
        return None

    @property
    def is_command(self) -> bool:
        """Whether the module is a WASI command: it exports ``_start() -> ()``, run with
        stdin, argv and env (its kind, read from its catalogue)."""
        signature = self.function(COMMAND_ENTRY)
        return signature is not None and not signature.params and not signature.results

    def function(self, name: str) -> FunctionSignature | None:
        """The exported function called ``name``, if there is one."""
        for signature in self.functions:
            if signature.name == name:
                return signature
        return None


@dataclass(frozen=True, slots=True)
class ModuleRecord:
    """A stored module: its metadata and its verified bytes."""

    info: ModuleInfo
    wasm: bytes = field(repr=False)

    @property
    def id(self) -> UUID:
        return self.info.id

    @property
    def digest(self) -> str:
        return self.info.digest


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedArtifact:
    """A module compiled ahead of time for one engine ``flavor``, sealed by the runtime.

    Opaque to storage and the workers: only the runtime that sealed it can check and
    load ``data``. ``digest`` is the content digest of the module it was compiled from.
    """

    digest: str
    flavor: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; ``next_cursor`` is None on the last page."""

    items: tuple[ModuleInfo, ...]
    next_cursor: str | None


def digest_of(wasm: bytes) -> str:
    """The content digest Wess uses everywhere: ``sha256:<hex>`` of the bytes."""
    return "sha256:" + hashlib.sha256(wasm).hexdigest()


class Role(StrEnum):
    """What an API key or token may do; ``security.rbac`` says which permissions each grants."""

    ADMIN = "admin"
    DEVELOPER = "developer"
    INVOKER = "invoker"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """A stored API key: who it speaks for, and the HMAC of its secret (hex)."""

    id: str
    namespace: str
    role: Role
    name: str
    """A label for people ("ci-deploy"); not used for any decision."""
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    hash: str = field(repr=False)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (ISO 8601 times)."""
        return {
            "id": self.id,
            "namespace": self.namespace,
            "role": self.role.value,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "expires_at": _iso(self.expires_at),
            "last_used_at": _iso(self.last_used_at),
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApiKey:
        return cls(
            id=data["id"],
            namespace=data["namespace"],
            role=Role(data["role"]),
            name=data["name"],
            created_at=datetime.fromisoformat(data["created_at"]),
            expires_at=_time(data.get("expires_at")),
            last_used_at=_time(data.get("last_used_at")),
            hash=data["hash"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFields:
    """What the caller says about one action; ``security.audit.chain`` adds sequence
    and hashes."""

    time: str
    """RFC 3339 in UTC (``2026-01-31T12:00:00.000000Z``); a string so it hashes stably."""
    actor: str
    namespace: str | None
    action: str
    target: str | None
    outcome: str
    request_id: str | None
    client_ip: str | None
    count: int = 1
    """How many like requests the entry stands for (repeated refusals are aggregated)."""


UNKEYED_CHAIN = "sha256"
"""The ``chain`` of entries written before the chain was keyed: a plain hash."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One entry of the audit log, chained to the one before it (``security.audit``)."""

    seq: int
    time: str
    actor: str
    namespace: str | None
    action: str
    target: str | None
    outcome: str
    request_id: str | None
    client_ip: str | None
    prev_hash: str
    hash: str
    count: int = 1
    chain: str = UNKEYED_CHAIN
    """How ``hash`` was made: ``hmac-sha256:<key id>``, or ``sha256`` for entries
    written before the chain was keyed."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEntry:
        return cls(**data)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeInfo:
    """One Wess process serving a store, as its heartbeats describe it."""

    id: str
    address: str
    """Where it listens (``host:port``)."""
    version: str
    started_at: datetime
    last_seen: datetime
