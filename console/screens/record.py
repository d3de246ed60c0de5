"""One record's flow history across profiles and runs, with the one-line answer on top."""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from engine.explain import describe_event, explain_now
from engine.sync.run import RunRequest
from engine.text import inert, short_id

from ..messages import HistoryLoaded
from ..widgets import KeyFooter, OpsTable, lit


class RecordScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "back"),
        Binding("R", "rerun", "rerun record"),
        Binding("y", "copy", "copy id"),
    ]
    HELP = "The record's flow history: every read, skip, write, tag and conversion, oldest first."

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.events: list[dict] = []
        self.pending_reruns: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        yield Static(id="now", classes="now")
        yield OpsTable(id="timeline")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#topbar", Static).update(lit(f"{self.key} · flow history"))
        self.load()

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def load(self) -> None:
        names = {p.id: p.name.split(" → ")[0] for p in self.app.ws.profiles()}
        self.post_message(HistoryLoaded(self.key, self.app.ws.history(self.key), names))

    @on(HistoryLoaded)
    def show(self, message: HistoryLoaded) -> None:
        self.events = message.events
        names = message.profile_names
        self.query_one("#now", Static).update(lit(f"Now: {explain_now(message.events)}", limit=600))
        table = self.query_one("#timeline", OpsTable)
        table.clear(columns=True)
        table.add_column("When", width=14)
        table.add_column("Profile", width=9)
        table.add_column("Dir", width=6)
        table.add_column("What", width=120)
        for n, event in enumerate(message.events):
            table.add_row(event["ts"].replace("T", " ")[5:19], lit(names.get(event["profile"], event["profile"])),
                          event["dir"], lit(describe_event(event)), key=str(n))
        if message.events:
            table.move_cursor(row=len(message.events) - 1)

    def profiles_of_record(self) -> list[int]:
        return sorted({e["profile"] for e in self.events})

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "rerun" and self.app.read_only:
            return None
        return True

    def action_rerun(self) -> None:
        """Sync just this record through each profile that has seen it, then show the new events."""
        profiles = self.profiles_of_record()
        if not profiles:
            self.app.notify("no profile has seen this record yet", severity="warning")
            return
        for profile_id in profiles:
            if self.app.start_run(profile_id, RunRequest(record=self.key), monitor=False):
                self.pending_reruns.add(profile_id)
        self.app.notify(f"re-syncing {inert(self.key, 80)} through {len(profiles)} profile(s)", markup=False)

    def run_ended(self, profile_id: int) -> None:
        if profile_id in self.pending_reruns:
            self.pending_reruns.discard(profile_id)
            self.load()

    def action_copy(self) -> None:
        table = self.query_one("#timeline", OpsTable)
        key = table.selected_key
        event = self.events[int(key)] if key is not None and self.events else None
        self.app.copy_id((event or {}).get("crm_id") or (event or {}).get("email") or self.key)

    def action_back(self) -> None:
        self.app.pop_screen()


__all__ = ["RecordScreen", "short_id"]
