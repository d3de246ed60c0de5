"""Small widgets and helpers shared by the screens."""
from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from engine.clock import parse_iso
from engine.text import inert


def lit(value: object, style: str = "", limit: int = 200) -> Text:
    """Untrusted text as a literal, inert cell: never parsed as markup, no control characters."""
    return Text(inert(value, limit), style=style, no_wrap=True, overflow="ellipsis")


def compact(n: int) -> str:
    """1234 · 12k · 1.2M: counts that fit a four-character column."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n // 1000}k"
    return str(n)


def lines(*parts: object) -> Text:
    """Several inert lines in one renderable (inert() alone folds newlines)."""
    return Text("\n").join(Text(inert(p, 400)) for p in parts)


def ago(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "never"
    seconds = max(0, int((now - parse_iso(stamp)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


STATUS_STYLE = {"succeeded": "status-ok", "partial": "status-warn", "failed": "status-bad", "abandoned": "status-bad",
                "cancelled": "status-warn", "running": "status-run", "on time": "status-ok",
                "delayed": "status-warn", "failing": "status-bad", "never run": "muted", "manual": "muted"}


class OpsTable(DataTable):
    """A row-cursor table with the keys of k9s/lazygit: j/k, g/G."""

    BINDINGS = [
        Binding("enter", "select_cursor", "open"),
        Binding("j", "cursor_down", "down", show=False),
        Binding("k", "cursor_up", "up", show=False),
        Binding("g", "scroll_top", "top", show=False),
        Binding("G", "scroll_bottom", "bottom", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return key.value if key else None


def tone(app, variable: str) -> str:
    """A theme variable as a Rich style string, so table cells follow the active theme."""
    from textual.color import Color

    value = app.get_css_variables().get(variable)
    if not value:
        return ""
    rich = Color.parse(value).rich_color
    return rich.name if rich.number is not None and rich.triplet is None else rich.triplet.hex if rich.triplet else ""


def status_text(app, status: str) -> Text:
    variable = STATUS_STYLE.get(status, "")
    style = tone(app, "muted-text") if variable == "muted" else (tone(app, variable) if variable else "")
    return Text(status, style=style, no_wrap=True)


class KeyFooter(Footer):
    """Textual's Footer rebuilds its keys on every bindings signal: five times while a Profile screen
    opens, about a quarter of its opening time (measured). This one rebuilds at most once per refresh,
    and only when the keys it would show changed."""

    _queued = False
    _shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen and not self._queued:
            self._queued = True
            self.call_after_refresh(self._rebuild_if_changed)

    async def _rebuild_if_changed(self) -> None:
        self._queued = False
        shown = tuple((binding.key, binding.description, binding.action, enabled, tooltip, id(binding.group))
                      for _, binding, enabled, tooltip in self.screen.active_bindings.values() if binding.show)
        if shown != self._shown:
            self._shown = shown
            await self.recompose()

