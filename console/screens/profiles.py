"""Home: every profile of every account, with last run, health and plan usage."""
from __future__ import annotations

import os

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from engine.explain import run_totals
from engine.model import Profile
from engine.sync.schedule import health

from ..messages import OverviewLoaded
from ..widgets import KeyFooter, OpsTable, ago, compact, lit, status_text, tone

WIDE = 110


def options_sentence(profile: Profile, last_run: dict | None, converted_tracked: int = 0) -> str:
    """The selected profile explained in words an operator can paste into a ticket."""
    o, s = profile.options, profile.segments
    parts = [f"{profile.name}"]
    if profile.object_type.value == "Leads":
        text = f"Delete converted Leads {'ON' if o.delete_converted_leads else 'OFF'}"
        if not o.delete_converted_leads and converted_tracked:
            text += f" ({converted_tracked} converted leads still tracked as Leads)"
        parts.append(text)
    parts.append(f"Field mapping {'ON' if o.field_mapping else 'OFF'}")
    parts.append(f"Unsubscribe on CRM opt-out {'ON' if o.unsubscribe_on_crm_opt_out else 'OFF'}")
    selections = len(s.campaigns) + len(s.views)
    if s.all_active_campaigns:
        parts.append("All Active Campaigns → tags")
    elif selections:
        parts.append(f"{selections} campaign/view selection{'s' if selections > 1 else ''} → tags")
    parts.append(f"every {o.schedule_minutes} min" if o.schedule_minutes else "manual only")
    if last_run and last_run.get("error"):
        parts.append(f"last error: {last_run['error'].get('message')}")
    return " · ".join(parts)


class ProfilesScreen(Screen):
    BINDINGS = [
        Binding("r", "run", "run"),
        Binding("m", "monitor", "monitor"),
        Binding("slash", "filter", "filter"),
        Binding("y", "copy", "copy id", show=False),
        Binding("escape", "clear_filter", "clear", show=False),
    ]
    HELP = "Every profile of every subscriber account. Enter opens a profile; r runs it (incremental)."

    def __init__(self) -> None:
        super().__init__()
        self.overview: list[dict] = []
        self.filter_text = ""
        self.signature: tuple = ()
        self.wide = False
        self.marked_running: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        with Vertical():
            yield OpsTable(id="profiles")
            yield Static(id="explain", classes="explain")
        yield Input(placeholder="filter accounts and profiles (escape clears)", id="filter")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#topbar").set_class(self.app.read_only, "read-only")
        self.load()
        if self.app.poll_interval:
            self.set_interval(self.app.poll_interval, self.poll)

    def poll(self) -> None:
        """Reload only when another process (or a run) changed the small hot files."""
        signature = tuple(_stat(self.app.ws.layout.store / name) for name in ("config.json", "runs.json"))
        if signature != self.signature:
            self.signature = signature
            self.load()

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False)
    def load(self) -> None:
        overview = self.app.ws.overview()
        running = sum(1 for a in overview for p in a["profiles"]
                      if (p["last_run"] or {}).get("status") == "running")
        self.post_message(OverviewLoaded(overview, running))

    @on(OverviewLoaded)
    def show(self, message: OverviewLoaded) -> None:
        self.overview = message.overview
        profiles = sum(len(a["profiles"]) for a in message.overview)
        sandbox = any(a["account"].sandbox for a in message.overview)
        running = message.running or len(self.app.cancels)
        bar = Text(f"syncops · {'sandbox' if sandbox else 'live'} · {len(message.overview)} accounts · "
                   f"{profiles} profiles", no_wrap=True, overflow="ellipsis")
        if self.app.read_only:
            bar.append("  READ-ONLY", style="bold")
        if running:
            bar.append(f"   ● {running} running", style=tone(self.app, "status-run"))
        self.query_one("#topbar", Static).update(bar)
        self.fill()

    def on_resize(self) -> None:
        if (self.size.width >= WIDE) != self.wide and self.overview:
            self.fill()

    def fill(self) -> None:
        table = self.query_one("#profiles", OpsTable)
        keep = table.selected_key
        self.wide = self.size.width >= WIDE
        table.clear(columns=True)
        table.add_column("Account / Profile", width=22 if not self.wide else 28, key="name")
        table.add_column("Type", width=4)
        if self.wide:
            table.add_column("Audience", width=10)
        table.add_column("Last run", width=8)
        table.add_column("Health", width=9)
        for label in ("New", "Upd", "Skip", "Fail"):
            table.add_column(label, width=4)
        if self.wide:
            table.add_column("Status", width=10)
            table.add_column("By", width=12)
        now = self.app.clock()
        needle = self.filter_text.lower()
        for entry in self.overview:
            account = entry["account"]
            rows = [p for p in entry["profiles"] if not needle or needle in p["profile"].name.lower()
                    or needle in account.name.lower() or needle in account.id]
            if not rows:
                continue
            limit = "∞" if entry["limit"] is None else entry["limit"]
            header = [lit(account.name, style="bold"), ""] + ([""] if self.wide else [])
            header += [lit(entry["plan"].replace(" + 2 profiles", "+2")), lit(f"{entry['used']}/{limit} used")]
            table.add_row(*header, *[""] * (len(table.columns) - len(header)), key=f"acct:{account.id}")
            for item in rows:
                table.add_row(*self._cells(item["profile"], item["last_run"], now), key=f"prof:{item['profile'].id}")
        if keep and keep in [r.value for r in table.rows]:
            table.move_cursor(row=table.get_row_index(keep))
        elif table.row_count > 1:
            table.move_cursor(row=1)
        self.explain()

    def _cells(self, profile: Profile, run: dict | None, now) -> list:
        live = self.app.live.get(profile.id)
        totals = run_totals(run).values()
        state = "running" if live else health(self.app.ws, profile, run)
        cells = [lit(f"  {profile.name}"), profile.object_type.value[:4]]
        if self.wide:
            cells.append(lit(profile.audience_id))
        cells += [ago((run or {}).get("started_at"), now) if not live else "now", status_text(self.app, state)]
        cells += [Text(compact(n) if run else "", justify="right") for n in totals]
        if self.wide:
            cells += [status_text(self.app, (run or {}).get("status") or ""), lit((run or {}).get("actor") or "")]
        return cells

    @on(OpsTable.RowHighlighted)
    def explain(self) -> None:
        selected = self.selected()
        text = options_sentence(*selected) if selected else "Select a profile to see its options."
        self.query_one("#explain", Static).update(lit(text, limit=400))

    def selected(self) -> tuple[Profile, dict | None, int] | None:
        key = self.query_one("#profiles", OpsTable).selected_key
        if not key or not key.startswith("prof:"):
            return None
        wanted = int(key.split(":")[1])
        for entry in self.overview:
            for item in entry["profiles"]:
                if item["profile"].id == wanted:
                    return item["profile"], item["last_run"], item.get("converted_tracked", 0)
        return None

    @on(OpsTable.RowSelected)
    def action_open(self) -> None:
        selected = self.selected()
        if selected:
            self.app.open_profile(selected[0].id)

    def action_run(self) -> None:
        selected = self.selected()
        if selected:
            from engine.sync.run import RunRequest

            self.app.start_run(selected[0].id, RunRequest())

    def action_monitor(self) -> None:
        """Watch the selected profile's current or last run, wherever it was started."""
        selected = self.selected()
        if selected:
            from .monitor import RunMonitorScreen

            self.app.push_screen(RunMonitorScreen(selected[0].id))

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "run" and self.app.read_only:
            return None  # shown, but disabled
        return True

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.fill()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one("#profiles").focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("visible")
        self.query_one("#profiles").focus()

    def action_copy(self) -> None:
        selected = self.selected()
        if selected:
            self.app.copy_id(str(selected[0].id))

    def show_progress(self, profile_id: int) -> None:
        """Mark the row as running on its first update; counters live in the monitor."""
        if profile_id not in self.marked_running and self.overview:
            self.marked_running.add(profile_id)
            self.fill()

    def run_ended(self, profile_id: int) -> None:
        self.marked_running.discard(profile_id)
        self.load()


def _stat(path) -> tuple:
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)
    except FileNotFoundError:
        return ()
