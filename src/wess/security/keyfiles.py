"""The key-encryption key on disk, and rotating it without losing a readable byte.

``security.encryption_key_file`` (say ``kek``) holds the current KEK. Rotation:

1. a new KEK is written to ``kek.next`` (whole or not at all, mode 0600, synced:
   ``wess.files.write_file``);
2. every stored data key is re-wrapped under it (the Writer runs this);
3. the old file becomes ``kek.retired-<id>`` and ``kek.next`` becomes ``kek`` (renames).

A crash between any two steps leaves every value readable: start-up loads ``kek``,
``kek.next`` and every ``kek.retired-*`` into the keyring (the current one seals,
all of them open). A rotation begun while an unfinished ``kek.next`` waits retires
that one first, so two cut-short rotations in a row lose no key. Retired files may be
deleted once no backup needs them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wess.errors import ConfigError
from wess.files import sync_directory, write_file
from wess.security.crypto import Kek, Keyring, generate_kek, load_kek

NEXT_SUFFIX = ".next"
RETIRED_INFIX = ".retired-"


def load_keyring(path: Path) -> Keyring:
    """The keyring for ``path``: its KEK seals; ``.next`` and retired KEKs open too."""
    current = load_kek(path)
    others = [load_kek(p) for p in sorted(path.parent.glob(path.name + RETIRED_INFIX + "*"))]
    pending = path.with_name(path.name + NEXT_SUFFIX)
    if pending.exists():
        others.append(load_kek(pending))
    return Keyring(current, others)


def keyring_sealing_with(path: Path, kek_id: str) -> Keyring:
    """The keyring of every KEK file of ``path`` (current, ``.next``, retired) with the
    KEK ``kek_id`` as the one that seals; ``ConfigError`` if no file holds it. The
    Writer resolves a ``RotateKek`` with this: the job names the key, the files hold it.
    """
    keyring = load_keyring(path)
    keks = [keyring.current, *keyring.retired()]
    chosen = next((kek for kek in keks if kek.id == kek_id), None)
    if chosen is None:
        raise ConfigError(f"no key-encryption key file beside {path} holds {kek_id}")
    return Keyring(chosen, [kek for kek in keks if kek.id != kek_id])


@dataclass(frozen=True, slots=True)
class Rotation:
    """A rotation in progress: the keyring to re-wrap under, and how to finish it."""

    path: Path
    old: Kek
    new: Kek
    keyring: Keyring

    def finish(self) -> Keyring:
        """Once every data key is re-wrapped: make the new KEK the file's key."""
        retired = self.path.with_name(f"{self.path.name}{RETIRED_INFIX}{self.old.id}")
        os.replace(self.path, retired)
        os.replace(self.path.with_name(self.path.name + NEXT_SUFFIX), self.path)
        sync_directory(self.path.parent)
        return self.keyring


def begin_rotation(path: Path, keyring: Keyring) -> Rotation:
    """Write a new KEK to ``<path>.next`` and return the keyring that seals with it.

    A ``.next`` left by a rotation that was cut short may already seal some values, so
    it is retired (renamed, never overwritten) before the new one is written.
    """
    pending = path.with_name(path.name + NEXT_SUFFIX)
    if pending.exists():
        unfinished = load_kek(pending)
        os.replace(pending, path.with_name(f"{path.name}{RETIRED_INFIX}{unfinished.id}"))
        sync_directory(path.parent)
    write_file(pending, generate_kek().encode("ascii"), mode=0o600)
    new = load_kek(pending)
    old = keyring.current
    return Rotation(path=path, old=old, new=new, keyring=Keyring(new, [old, *keyring.retired()]))
