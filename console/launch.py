"""What plain `syncops` (and `make run`) opens: the console, on the sandbox when nothing is configured."""
from __future__ import annotations

from pathlib import Path

from engine.workspace import Workspace


def ensure_demo(ws: Workspace) -> None:
    """A fresh machine gets the seeded sandbox and one run of each demo profile."""
    if ws.profiles() or ws.accounts():
        return
    ws.reset_sandbox()
    for profile in ws.profiles():
        ws.run(profile.id)


def open_console(data_dir: Path, read_only: bool = False, theme: str | None = None) -> None:
    ws = Workspace(data_dir)
    ensure_demo(ws)
    try:
        from .app import make_app
    except ImportError:  # the console app is not built yet: show the headless demo instead
        from rich.console import Console

        from .render import profiles_table

        Console().print(profiles_table(ws, ws.overview()))
        return
    make_app(ws, read_only=read_only, theme=theme).run()
