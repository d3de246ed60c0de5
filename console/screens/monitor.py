"""A sync running live: phase, progress, rates, counters per direction, a bounded feed, cancel."""
from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Log, ProgressBar, Static

from engine.clock import parse_iso
from engine.explain import describe_event
from engine.model import Direction
from engine.text import inert, short_id

from ..messages import EventsLoaded
from ..widgets import KeyFooter, lit

FEED_LINES = 300
LABELS = {Direction.CRM_TO_MC: "CRM → Mailchimp", Direction.MC_TO_CRM: "Mailchimp → CRM"}


def counters_line(stats: dict) -> str:
    keys = ("created", "updated", "unchanged", "skipped", "failed")
    return "  ".join(f"{k} {stats.get(k, 0):,}" for k in keys)


class RunMonitorScreen(Screen):
    BINDINGS = [Binding("x", "cancel", "cancel run"), Binding("escape", "back", "back (run continues)")]
    HELP = "The run continues when you leave this screen; runs started by the CLI or the scheduler show here too."

    def __init__(self, profile_id: int) -> None:
        super().__init__()
        self.profile_id = profile_id
        self.seen_feed = 0

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        for direction in Direction:
            yield Static(id=f"label-{direction.name}", classes="counters")
            yield ProgressBar(id=f"bar-{direction.name}", show_eta=False)
            yield Static(id=f"count-{direction.name}", classes="counters muted")
        yield Log(id="feed", max_lines=FEED_LINES, auto_scroll=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.profile = self.app.ws.profile(self.profile_id)
        self.render_state(self.current())
        if self.profile_id not in self.app.live:  # a run started elsewhere (CLI, scheduler) or the last one
            self.poll_store()
            if self.app.poll_interval:
                self.set_interval(self.app.poll_interval, self.poll_store)

    def current(self) -> dict:
        return self.app.live.get(self.profile_id) or self.app.finished.get(self.profile_id) or {}

    def show_progress(self, profile_id: int) -> None:
        if profile_id == self.profile_id:
            self.render_state(self.current())

    def run_ended(self, profile_id: int) -> None:
        if profile_id == self.profile_id:
            self.render_state(self.current(), done=True)
            self.refresh_bindings()

    @work(thread=True, exclusive=True, group="monitor", exit_on_error=False)
    def poll_store(self) -> None:
        """A run started by another process: follow its run doc (written about once a second)."""
        runs = self.app.ws.runs.for_profile(self.profile_id)
        if runs:
            self.post_message(EventsLoaded("run", [runs[0]]))

    @on(EventsLoaded)
    def external(self, message: EventsLoaded) -> None:
        if self.profile_id not in self.app.live and message.events:
            run = message.events[0]
            self.render_state(run | {"request": {"full": run.get("full"), "dry_run": run.get("dry_run"),
                                                 "actor": run.get("actor")}},
                              done=run["status"] != "running")

    def render_state(self, state: dict, done: bool = False) -> None:
        request = state.get("request") or {}
        kind = "dry run" if request.get("dry_run") else ("full sync" if request.get("full") else "incremental")
        started = state.get("started") or state.get("started_at") or ""
        status = state.get("status") or ("done" if done else state.get("phase", "waiting"))
        top = Text(no_wrap=True, overflow="ellipsis")
        top.append(f"{self.profile.name} · {kind} · ", style="bold")
        top.append(f"{status} · {started[11:19]} by {inert(request.get('actor') or state.get('actor') or '', 40)}")
        self.query_one("#topbar", Static).update(top)
        stats, totals = state.get("stats") or {}, state.get("totals") or {}
        elapsed = max(1.0, (self.app.clock() - parse_iso(started)).total_seconds()) if started else 1.0
        for direction in Direction:
            s = stats.get(direction.value) or {}
            read = s.get("read", 0)
            phase = state.get("phase")
            where = ("done" if done or (phase not in (direction.value, None, "starting", "preparing") and read)
                     else ("running" if phase == direction.value else "waiting"))
            label = f"{LABELS[direction]}  {read:,} read  {read / elapsed:,.0f} rec/s  {where}"
            self.query_one(f"#label-{direction.name}", Static).update(lit(label))
            bar = self.query_one(f"#bar-{direction.name}", ProgressBar)
            total = totals.get(direction.value)
            if where == "done":
                bar.update(total=max(read, 1), progress=max(read, 1))
            else:
                bar.update(total=max(total, read) if total else None, progress=read)
            self.query_one(f"#count-{direction.name}", Static).update(lit(counters_line(s)))
        feed = self.query_one("#feed", Log)
        for event in state.get("recent") or []:
            record = event.get("email") or short_id(event.get("crm_id"))
            feed.write_line(inert(f"{event['ts'][11:19]} {record}  {describe_event(event)}", 200))
        state["recent"] = []

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "cancel" and (self.app.read_only or self.profile_id not in self.app.cancels):
            return None
        return True

    def action_cancel(self) -> None:
        if self.app.cancel_run(self.profile_id):
            self.app.notify("cancelling after the current batch…")

    def action_back(self) -> None:
        self.app.pop_screen()
