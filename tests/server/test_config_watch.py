"""The file watch (``server.watch_config``) sees a Kubernetes ConfigMap update: the
kubelet never rewrites ``wess.toml``, it swaps the ``..data`` link its path goes through."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from wess.server.reloading import WATCH, watch_config

TRIES = 50
"""Swaps made at most, each waited on briefly: the watch may start after the first."""


class Reloads:
    """Stands for the ``Reloader``: counts the reloads the watch asks for."""

    def __init__(self) -> None:
        self.triggers: list[str] = []
        self.asked = asyncio.Event()

    def reload(self, *, trigger: str) -> bool:
        self.triggers.append(trigger)
        self.asked.set()
        return True


def publish(directory: Path, version: int) -> None:
    """What the kubelet does: a new timestamped directory, then ``..data`` renamed onto it."""
    fresh = directory / f"..v{version}"
    fresh.mkdir()
    (fresh / "wess.toml").write_text(f"[limits]\nmax_args = {version}\n")
    (directory / "..data_tmp").symlink_to(fresh.name)
    os.replace(directory / "..data_tmp", directory / "..data")


async def test_a_configmap_update_reloads(tmp_path: Path) -> None:
    """``wess.toml -> ..data/wess.toml`` with ``..data`` swapped to a new version: the
    watch asks for a reload, naming itself as the trigger; an event that leaves the
    bytes as they were asks for none."""
    publish(tmp_path, 1)
    (tmp_path / "wess.toml").symlink_to("..data/wess.toml")
    reloads = Reloads()
    stop = asyncio.Event()
    reloader: Any = reloads
    watching = asyncio.create_task(watch_config(reloader, tmp_path / "wess.toml", stop=stop))
    try:
        for version in range(2, TRIES):
            publish(tmp_path, version)
            try:
                await asyncio.wait_for(reloads.asked.wait(), 0.2)
                break
            except TimeoutError:
                continue
        assert reloads.triggers, "no reload after the ConfigMap swaps"
        assert set(reloads.triggers) == {WATCH}
        seen = len(reloads.triggers)
        (tmp_path / "unrelated.txt").write_text("x")
        (tmp_path / "..unchanged").mkdir()  # a relevant name, the same bytes: no reload
        await asyncio.sleep(0.3)
        assert len(reloads.triggers) == seen
    finally:
        stop.set()
        await asyncio.wait_for(watching, 10)
