"""What a client uploads, and what replacing a module keeps of it: the upload as sent,
the attributes an update leaves unsaid carried over from the module it replaces, and
the sentences that say why a declared signature does not match the module's exports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from wess.errors import InvalidRequest
from wess.models import (
    MODULE_NAME_MAX,
    FunctionSignature,
    LegacyMetadata,
    ModuleInfo,
    ValueType,
)
from wess.runtime.reasons import clipped, listed
from wess.workers.resolving import is_module_name

NAME_MAX = MODULE_NAME_MAX


@dataclass(frozen=True, slots=True)
class Upload:
    """What a client sent to create or replace a module, before validation."""

    wasm: bytes
    name: str | None = None
    default_function: str | None = None
    declared_params: tuple[ValueType, ...] | None = None
    declared_results: tuple[ValueType, ...] | None = None
    legacy_metadata: LegacyMetadata | None = None


@dataclass(frozen=True, slots=True)
class Carried:
    """An update's upload with what it left unsaid taken from the module it replaces."""

    upload: Upload
    default_kept: bool
    """The default function is the module's current one, not one the client named."""


def check_name(name: str | None) -> None:
    """``InvalidRequest`` unless a client may name a module ``name`` (None: unnamed)."""
    if name is not None and not is_module_name(name):
        raise InvalidRequest(
            f"name must be 1 to {NAME_MAX} printable characters without '/' or surrounding "
            "spaces, and must not spell a UUID (ids and names share the paths)",
            field="name",
        )


def carried_over(upload: Upload, current: ModuleInfo) -> Carried:
    """What replacing ``current`` with ``upload`` stores: the upload's own attributes,
    and the module's name and default function where the upload names none.

    A kept default function keeps the signature it was declared with: the one the
    upload declares (params or results without a function apply to it), else the
    original API's metadata, which is kept too. A newly named default function comes
    with the upload's own metadata (the original API's, or none for /v1).
    """
    name = upload.name if upload.name is not None else current.name
    function = current.default_function
    if upload.default_function is not None or function is None:
        return Carried(replace(upload, name=name), default_kept=False)
    params, results = upload.declared_params, upload.declared_results
    legacy = current.legacy_metadata  # when set, it names ``function``
    if legacy is not None and params is None and results is None:
        params = tuple(ValueType(t.lower()) for t in legacy.args)
        results = tuple(ValueType(t.lower()) for t in legacy.return_type)
    else:
        legacy = None  # the upload declared the signature anew
    kept = replace(
        upload,
        name=name,
        default_function=function,
        declared_params=params,
        declared_results=results,
        legacy_metadata=legacy,
    )
    return Carried(kept, default_kept=True)


def find_function(functions: Sequence[FunctionSignature], name: str) -> FunctionSignature | None:
    return next((f for f in functions if f.name == name), None)


def mismatch(signature: FunctionSignature | None, upload: Upload) -> bool:
    if signature is None:
        return True
    if upload.declared_params is not None and upload.declared_params != signature.params:
        return True
    return upload.declared_results is not None and upload.declared_results != signature.results


def describe_mismatch(
    upload: Upload,
    signature: FunctionSignature | None,
    functions: Sequence[FunctionSignature],
    *,
    kept: bool = False,
) -> str:
    name = repr(clipped(upload.default_function or ""))  # the client's: bounded
    if signature is None:
        exported = listed(f.name for f in functions)
        if kept:
            return (
                f"the update names no default function, so {name} stays the default, but "
                f"the new module does not export it (it exports: {exported}); export "
                f"{name} or name another default function"
            )
        return f"the module exports no function {name}; it exports: {exported}"
    declared = FunctionSignature(
        name=signature.name,
        params=upload.declared_params if upload.declared_params is not None else signature.params,
        results=(
            upload.declared_results if upload.declared_results is not None else signature.results
        ),
    )
    if kept:
        return (
            f"the update keeps {name} as the default function, declared as "
            f"{declared.describe()}, but the new module exports {signature.describe()}; "
            f"keep that signature or name the function again to declare it anew"
        )
    return (
        f"function {name} was declared as {declared.describe()} "
        f"but the module exports {signature.describe()}"
    )
