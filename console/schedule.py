"""`syncops scheduler`: the headless loop around the engine's run_due."""
from __future__ import annotations

import time

from rich.console import Console
from rich.text import Text

from engine.sync.schedule import run_due
from engine.workspace import Workspace


def run_scheduler(ws: Workspace, once: bool, tick_s: float, console: Console) -> None:
    while True:
        for profile, result in run_due(ws):
            line = result if isinstance(result, str) else f"{result['status']} ({result['run_id']})"
            console.print(Text(f"{ws.now()} {profile.key}: {line}"))
        if once:
            return
        time.sleep(tick_s)
