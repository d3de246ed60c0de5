"""The console's themes. Every colour the app uses is a theme variable (see app.tcss)."""
from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

TCSS_PATH = Path(__file__).with_name("app.tcss")

DARK = Theme(
    name="syncops-dark", primary="#4FA3E0", secondary="#7E9CD8", accent="#E0A34F", foreground="#D8DEE9",
    background="#161A21", surface="#1E232C", panel="#262C37", success="#8FBC6B", warning="#E5C07B",
    error="#E06C75", dark=True,
    variables={"status-ok": "#8FBC6B", "status-warn": "#E5C07B", "status-bad": "#E06C75",
               "status-run": "#4FA3E0", "muted-text": "#8A93A3", "footer-key-foreground": "#E0A34F"},
)
LIGHT = Theme(
    name="syncops-light", primary="#1F6FB2", secondary="#4C5F9E", accent="#A35F00", foreground="#1E232C",
    background="#F7F8FA", surface="#FFFFFF", panel="#E8ECF2", success="#2E7D32", warning="#9A6700",
    error="#B3261E", dark=False,
    variables={"status-ok": "#2E7D32", "status-warn": "#9A6700", "status-bad": "#B3261E",
               "status-run": "#1F6FB2", "muted-text": "#5F6B7A", "footer-key-foreground": "#A35F00"},
)
ANSI = Theme(
    name="syncops-ansi", primary="ansi_blue", secondary="ansi_cyan", accent="ansi_yellow",
    foreground="ansi_default", background="ansi_default", surface="ansi_default", panel="ansi_default",
    success="ansi_green", warning="ansi_yellow", error="ansi_red", dark=True,
    variables={"status-ok": "ansi_green", "status-warn": "ansi_yellow", "status-bad": "ansi_red",
               "status-run": "ansi_blue", "muted-text": "ansi_bright_black", "footer-key-foreground": "ansi_yellow"},
)
THEMES = {t.name: t for t in (DARK, LIGHT, ANSI)}
DEFAULT_THEME = DARK.name


def pick_theme(requested: str | None, no_color: bool) -> str:
    """--theme wins; NO_COLOR picks the 16-colour ANSI theme; else the dark default."""
    if requested:
        if requested not in THEMES:
            raise ValueError(f"unknown theme {requested!r}; one of {', '.join(THEMES)}")
        return requested
    return ANSI.name if no_color else DEFAULT_THEME
