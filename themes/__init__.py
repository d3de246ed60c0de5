"""The console's themes. Every colour the app uses is a theme variable (see app.tcss)."""
from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

TCSS_PATH = Path(__file__).with_name("app.tcss")

def _theme(name: str, muted: str, **palette) -> Theme:
    """Run states and footer keys take the palette's own colours, so each theme names a colour once."""
    return Theme(name=name, **palette, variables={
        "status-ok": palette["success"], "status-warn": palette["warning"], "status-bad": palette["error"],
        "status-run": palette["primary"], "muted-text": muted, "footer-key-foreground": palette["accent"]})


DARK = _theme(
    "syncops-dark", muted="#8A93A3", primary="#4FA3E0", secondary="#7E9CD8", accent="#E0A34F",
    foreground="#D8DEE9", background="#161A21", surface="#1E232C", panel="#262C37", success="#8FBC6B",
    warning="#E5C07B", error="#E06C75", dark=True)
LIGHT = _theme(
    "syncops-light", muted="#5F6B7A", primary="#1F6FB2", secondary="#4C5F9E", accent="#A35F00",
    foreground="#1E232C", background="#F7F8FA", surface="#FFFFFF", panel="#E8ECF2", success="#2E7D32",
    warning="#9A6700", error="#B3261E", dark=False)
ANSI = _theme(
    "syncops-ansi", muted="ansi_bright_black", primary="ansi_blue", secondary="ansi_cyan", accent="ansi_yellow",
    foreground="ansi_default", background="ansi_default", surface="ansi_default", panel="ansi_default",
    success="ansi_green", warning="ansi_yellow", error="ansi_red", dark=True)
THEMES = {t.name: t for t in (DARK, LIGHT, ANSI)}
DEFAULT_THEME = DARK.name


def pick_theme(requested: str | None, no_color: bool) -> str:
    """--theme wins; NO_COLOR picks the 16-colour ANSI theme; else the dark default."""
    if requested:
        if requested not in THEMES:
            raise ValueError(f"unknown theme {requested!r}; one of {', '.join(THEMES)}")
        return requested
    return ANSI.name if no_color else DEFAULT_THEME
