"""A list of flow events: the records behind a count, a run, or an error group (a window of them)."""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from engine.explain import describe_event
from engine.text import short_id

from ..messages import EventsLoaded
from ..widgets import KeyFooter, OpsTable, lit

WINDOW = 200


class RecordsScreen(Screen):
    BINDINGS = [Binding("escape", "back", "back"), Binding("enter", "open", "open record"),
                Binding("right_square_bracket", "page(1)", "next page"),
                Binding("left_square_bracket", "page(-1)", "prev page")]

    def __init__(self, title: str, run_id: str | None = None, outcome: str | None = None,
                 events: list[dict] | None = None) -> None:
        super().__init__()
        self.title_text, self.run_id, self.outcome = title, run_id, outcome
        self.events = events
        self.page = 0

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        yield OpsTable(id="events")
        yield KeyFooter()

    def on_mount(self) -> None:
        if self.events is None:
            self.load()
        else:
            self.fill()

    @work(thread=True, exclusive=True, group="events", exit_on_error=False)
    def load(self) -> None:
        events = self.app.ws.run_events(self.run_id, self.outcome)
        self.post_message(EventsLoaded(self.title_text, events))

    @on(EventsLoaded)
    def loaded(self, message: EventsLoaded) -> None:
        self.events = message.events
        self.fill()

    def fill(self) -> None:
        events = self.events or []
        pages = max(1, -(-len(events) // WINDOW))
        self.page = max(0, min(self.page, pages - 1))
        window = events[self.page * WINDOW: (self.page + 1) * WINDOW]
        first = self.page * WINDOW
        self.query_one("#topbar", Static).update(lit(
            f"{self.title_text} · {first + 1 if events else 0}-{first + len(window)} of {len(events):,}"))
        table = self.query_one("#events", OpsTable)
        table.clear(columns=True)
        table.add_column("Dir", width=6)
        table.add_column("Record", width=26)
        table.add_column("What", width=120)
        for n, event in enumerate(window, start=first):
            record = event.get("email") or short_id(event.get("crm_id"))
            table.add_row(event["dir"], lit(record, limit=26), lit(describe_event(event)), key=str(n))

    def action_page(self, step: int) -> None:
        self.page += step
        self.fill()

    @on(OpsTable.RowSelected)
    def action_open(self) -> None:
        key = self.query_one("#events", OpsTable).selected_key
        if key is not None and self.events:
            event = self.events[int(key)]
            self.app.open_record(event.get("email") or event.get("crm_id") or "")

    def action_back(self) -> None:
        self.app.pop_screen()
