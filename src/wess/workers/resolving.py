"""Which module, and which revision of it, a request names: the one place that decides.

A request names a module by its id or by its name (unique within its namespace), and
may name a revision of it: a number (``?revision=3``) or an alias (``?alias=prod``),
which may split calls between revisions by weight (a canary). ``Resolver`` turns those
into a module id and a record to run; every route that addresses a module (runs,
reads, writes, and whatever addresses modules later: invocations, batches) goes
through it, so names, revisions and aliases mean the same everywhere.

The plain case stays cheap: a canonical id is parsed without a lookup, and a request
naming no revision runs the module's current record, as before. Names are resolved by
the Reader (cached, dropped when the module changes, on this node or another), and a
weighted alias chooses with the random source passed in, so tests are deterministic.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from wess.errors import AliasNotFound, InvalidModuleId, InvalidRequest
from wess.models import MODULE_NAME_MAX, AliasTarget, ModuleInfo, ModuleRecord, is_uuid
from wess.runtime.reasons import clipped
from wess.workers.deadline import Deadline
from wess.workers.reader import Reader

MODULE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""The one spelling of a module id: a UUID's canonical form, lowercase, as Wess hands
ids out."""
ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
"""An alias: a letter, then up to 63 letters, digits, dots, underscores or hyphens (so
it is never a revision number)."""
REVISION_MAX = (1 << 63) - 1
TARGETS_MAX = 8
"""Revisions one weighted alias may split calls between."""
WEIGHT_MAX = 1_000_000


@dataclass(frozen=True, slots=True)
class Selector:
    """Which revision a request asks for: a number, an alias, or (neither) the current."""

    revision: int | None = None
    alias: str | None = None

    @property
    def current(self) -> bool:
        return self.revision is None and self.alias is None


CURRENT = Selector()


def reference(raw: str) -> UUID | str:
    """What a path segment names: an id (canonical UUID) or a module name.

    Anything else that spells a UUID (uppercase, braces, no hyphens) is refused as an
    id in the wrong spelling: no module may be named so, and a module has one id."""
    if MODULE_ID.fullmatch(raw) is not None:
        return UUID(raw)
    if is_uuid(raw):
        raise InvalidModuleId(
            f"{clipped(raw)!r} is not a module id: a module id is a UUID in its canonical "
            "form, 36 characters of lowercase hex digits and hyphens (8-4-4-4-12)"
        )
    if not is_module_name(raw):
        raise InvalidModuleId(
            f"{clipped(raw)!r} is neither a module id nor a module name (1 to "
            f"{MODULE_NAME_MAX} printable characters, no '/')"
        )
    return raw


def is_module_name(name: str) -> bool:
    """Whether a client may name a module ``name``: 1 to ``MODULE_NAME_MAX`` printable
    characters, no ``/`` (it goes in paths), and not spelling a UUID (ids and names
    share the paths)."""
    return (
        0 < len(name) <= MODULE_NAME_MAX
        and name.isprintable()
        and "/" not in name
        and name.strip() == name
        and not is_uuid(name)
    )


def selector(revision: str | None, alias: str | None) -> Selector:
    """The selector of ``?revision=`` and ``?alias=`` (at most one of them)."""
    if revision is not None and alias is not None:
        raise InvalidRequest("name a revision or an alias, not both", field="revision")
    if revision is not None:
        return Selector(revision=revision_number(revision))
    if alias is not None:
        return Selector(alias=alias_name(alias))
    return CURRENT


def revision_number(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) <= REVISION_MAX):
        raise InvalidRequest(
            f"revision must be a whole number of at least 1, not {clipped(raw)!r}",
            field="revision",
        )
    return int(raw)


def alias_name(raw: str) -> str:
    if ALIAS.fullmatch(raw) is None:
        raise InvalidRequest(
            f"{clipped(raw)!r} is not an alias: a letter, then up to 63 letters, digits, "
            "'.', '_' or '-'",
            field="alias",
        )
    return raw


def alias_targets(document: object) -> tuple[AliasTarget, ...]:
    """An alias body: ``{"revision": 3}`` or ``{"weights": {"3": 90, "4": 10}}``."""
    if not isinstance(document, Mapping) or len(document) != 1:
        raise InvalidRequest('the body must be {"revision": 3} or {"weights": {"3": 90, "4": 10}}')
    if "revision" in document:
        number = document["revision"]
        if type(number) is not int or not 1 <= number <= REVISION_MAX:
            raise InvalidRequest("revision must be a whole number of at least 1", field="revision")
        return (AliasTarget(number, 1),)
    weights = document.get("weights")
    if not isinstance(weights, Mapping) or not 1 <= len(weights) <= TARGETS_MAX:
        raise InvalidRequest(
            f"weights must map 1 to {TARGETS_MAX} revision numbers to weights",
            field="weights",
        )
    targets = []
    for raw, weight in weights.items():
        number = revision_number(raw) if isinstance(raw, str) else 0
        if type(weight) is not int or not 1 <= weight <= WEIGHT_MAX:
            raise InvalidRequest(
                f"the weight of revision {clipped(str(raw))} must be a whole number from 1 "
                f"to {WEIGHT_MAX}",
                field="weights",
            )
        targets.append(AliasTarget(number, weight))
    return tuple(sorted(targets, key=lambda target: target.revision))


def choose(info: ModuleInfo, wanted: Selector, rng: random.Random) -> int:
    """The revision number ``wanted`` means for the module ``info`` describes: its
    number, its alias's (drawn by weight, with ``rng``), or the current one. Whether
    that revision is retained is the Reader's to check."""
    if wanted.revision is not None:
        return wanted.revision
    if wanted.alias is None:
        return info.revision
    alias = info.alias(wanted.alias)
    if alias is None:
        raise AliasNotFound(
            f"module {info.id} has no alias {wanted.alias!r}",
            module_id=str(info.id),
            alias=wanted.alias,
        )
    return weighted(alias.targets, rng)


def weighted(targets: tuple[AliasTarget, ...], rng: random.Random) -> int:
    """One target's revision, each drawn with probability weight / total."""
    if len(targets) == 1:
        return targets[0].revision
    point = rng.randrange(sum(target.weight for target in targets))
    for target in targets:
        point -= target.weight
        if point < 0:
            return target.revision
    raise AssertionError("unreachable: the point lies below the total weight")


class Resolver:
    """Module references and selectors to ids and records, through the ``Reader``."""

    def __init__(self, reader: Reader, *, rng: random.Random | None = None) -> None:
        self._reader = reader
        # a canary split, not a secret: a seedable generator is what tests need
        self._rng = rng if rng is not None else random.Random()  # noqa: S311

    async def module_id(self, raw: str, *, namespace: str) -> UUID:
        """The id ``raw`` names: itself, or the module of that name in ``namespace``
        (``ModuleNotFound`` if none)."""
        found = reference(raw)
        if isinstance(found, UUID):
            return found
        return await self._reader.find(namespace, found)

    async def link_target(self, ref: str, *, namespace: str) -> ModuleRecord:
        """The record a link names: ``adder`` (the current revision of the module named
        so in ``namespace``) or ``adder@prod`` (the revision its alias names)."""
        name, _, alias = ref.partition("@")
        module_id = await self._reader.find(namespace, name)
        wanted = Selector(alias=alias) if alias else CURRENT
        return await self.record(module_id, wanted, namespace=namespace)

    async def linked(self, namespace: str, ref: str) -> ModuleRecord:
        """``link_target`` as the Runner's ``LinkLookup`` calls it."""
        return await self.link_target(ref, namespace=namespace)

    async def record(
        self,
        module_id: UUID,
        wanted: Selector = CURRENT,
        *,
        namespace: str | None,
        deadline: Deadline | None = None,
    ) -> ModuleRecord:
        """The record to run: the module's current one, or the revision ``wanted``
        names (``RevisionNotFound``, ``AliasNotFound``); its ``info.revision`` says
        which."""
        head = await self._reader.get(module_id, namespace=namespace, deadline=deadline)
        if wanted.current:
            return head
        number = choose(head.info, wanted, self._rng)
        if number == head.info.revision:
            return head
        return await self._reader.get_revision(
            module_id, number, namespace=namespace, deadline=deadline
        )
