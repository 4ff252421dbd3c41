"""What a run request runs: a module's default function, or its command entry."""

from __future__ import annotations

from collections.abc import Sequence

from wess.errors import FunctionNotFound, InvalidRequest
from wess.models import COMMAND_ENTRY, ModuleInfo
from wess.runtime.command_io import CommandInput
from wess.runtime.reasons import listed


def command_of(
    info: ModuleInfo, function: str | None, args: Sequence[object], given: CommandInput | None
) -> CommandInput | None:
    """The input to run ``info``'s module with as a command, or None for a function call
    (see ``ModuleService.run``)."""
    if given is not None:
        if not info.is_command:
            raise InvalidRequest(
                f"module {info.id} is not a command (it exports no {COMMAND_ENTRY}() -> ()); "
                'call its functions with {"function": ..., "args": [...]}'
            )
        return given
    if not info.is_command or args:
        return None
    if function == COMMAND_ENTRY or (function is None and not info.default_function):
        return CommandInput()
    return None


def default_function_of(info: ModuleInfo) -> str:
    """The function a call without a name runs: the declared default, else the only
    export; anything else is ambiguous and must be named. A module uploaded through the
    original API has the function its metadata names as its default (an update keeps
    the two together), so its runs need nothing else."""
    if info.default_function:
        return info.default_function
    if len(info.functions) == 1:
        return info.functions[0].name
    names = listed(f.name for f in info.functions)
    raise FunctionNotFound(f"module {info.id} has no default function; name one of: {names}")
