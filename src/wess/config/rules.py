"""What a configuration key accepts, in words: its kind and its bounds.

One wording for the reference tables (docs/configuration.md, ``wess config reference``)
and for the "allowed:" part of a validation error, so the two never disagree.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo

from wess.config.sizes import EXAMPLES, MAX_ENTRIES, CacheSize

_KINDS: dict[Any, str] = {
    bool: "true or false",
    int: "whole number",
    float: "number",
    str: "string",
    Path: "path",
    CacheSize: "size or count",
}
_PHRASES = {
    "true or false": "true or false",
    "whole number": "a whole number",
    "number": "a number",
}
_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def kind(field: FieldInfo) -> str:
    """``whole number``, ``path``, ``one of`` ... and ``, optional`` when it may be unset."""
    annotation = field.annotation
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(get_args(annotation))
        annotation = members[0] if len(members) == 1 else annotation
    if get_origin(annotation) is Literal:
        name = "string"
    elif get_origin(annotation) is tuple:
        name = "list of strings"
    else:
        name = _KINDS.get(annotation, getattr(annotation, "__name__", str(annotation)))
    return f"{name}, optional" if optional else name


def rule(field: FieldInfo) -> str:
    """The values allowed beyond the kind: ``>= 1, <= 65535``, ``debug / info``..."""
    literal = _literal(field.annotation)
    if literal:
        return " / ".join(literal)
    if field.annotation is CacheSize:
        return f"bytes with a unit ({EXAMPLES}), or 0 … {MAX_ENTRIES} entries"
    rules = []
    for meta in field.metadata:
        for attr, symbol in _BOUNDS:
            value = getattr(meta, attr, None)
            if value is not None:
                rules.append(f"{symbol} {value}")
        if getattr(meta, "min_length", None):
            rules.append(f"length >= {meta.min_length}")
    return ", ".join(rules)


def allowed(field: FieldInfo) -> str:
    """Kind and rule together, for an error message: ``a whole number, >= 1``."""
    phrase = _PHRASES.get(kind(field).removesuffix(", optional"), "")
    return ", ".join(part for part in (phrase, rule(field)) if part)


def _literal(annotation: Any) -> tuple[str, ...]:
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) is Literal:
            return tuple(str(item) for item in get_args(candidate))
    return ()
