"""The CLI's live view of a run: phase and per-direction counters on stderr."""
from __future__ import annotations

import sys

import orjson
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from engine.model import Direction


class RunProgress:
    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.enabled = enabled and console.is_terminal
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=console, transient=True)
        self.task = None

    def __enter__(self) -> "RunProgress":
        if self.enabled:
            self.progress.start()
            self.task = self.progress.add_task("starting")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()

    def update(self, update: dict) -> None:
        if not self.enabled:
            return
        parts = [update["phase"]]
        for direction in Direction:
            s = update["stats"].get(direction.value) or {}
            if s.get("read"):
                parts.append(f"{direction.value} read {s['read']:,} new {s['created']:,} upd {s['updated']:,} "
                             f"skip {s['skipped']:,} fail {s['failed']:,}")
        self.progress.update(self.task, description=" · ".join(parts))


def json_lines(update: dict, key: str = "progress") -> None:
    """One JSON object per line on stdout: how a run in another process reports to the console."""
    sys.stdout.buffer.write(orjson.dumps({key: update}, default=str) + b"\n")
    sys.stdout.buffer.flush()
