"""Confirmations, the jump box and the help screen."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Static

from ..widgets import lit


class ConfirmModal(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("y", "confirm", "yes")]

    def __init__(self, question: str, confirm_label: str) -> None:
        super().__init__()
        self.question, self.confirm_label = question, confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog danger"):
            yield Static(lit(self.question, limit=2000), classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="no")
                yield Button(f"{self.confirm_label} (y)", id="yes", variant="warning")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class JumpModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Jump to a profile (id or name) or a record (email or CRM id)", classes="question")
            yield Input(placeholder="jane@acme.org, 4876876000001001234, Donors …", id="jump")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.for_screen = screen

    def compose(self) -> ComposeResult:
        lines = [getattr(self.for_screen, "HELP", "") or "", ""]
        for binding in list(getattr(self.for_screen, "BINDINGS", [])) + list(self.app.BINDINGS):
            keys = binding.key if hasattr(binding, "key") else binding[0]
            description = binding.description if hasattr(binding, "description") else binding[2]
            lines.append(f"{keys:>22}  {description}")
        lines += ["", f"{'enter':>22}  drill in", f"{'j / k, g / G':>22}  move, top, bottom",
                  f"{'ctrl+p':>22}  command palette (profiles, records, themes)"]
        with Vertical(classes="dialog"):
            yield Static(lit("\n".join(lines), limit=4000))

    def action_close(self) -> None:
        self.dismiss(None)
