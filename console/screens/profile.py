"""One profile: Step 1/2/3 settings at a glance, and tabs to triage it."""
from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static, TabbedContent, TabPane

from engine.model import Direction, ObjectType, Profile
from engine.sync.run import RunRequest
from engine.text import short_id

from ..messages import ProfileLoaded, SkippedWindow
from ..widgets import KeyFooter, OpsTable, lines, lit, status_text

PAGE = 100
OUTCOMES = ("read", "created", "updated", "unchanged", "skipped", "failed", "tagged", "untagged", "converted",
            "converted_still_tracked", "opt_outs")
MUTATING = {"run", "full", "toggle_converted"}


def error_groups(events: list[dict]) -> list[dict]:
    """Failures grouped by API and code, most records first."""
    groups: dict[tuple, dict] = {}
    for event in events:
        error = event.get("error") or {}
        key = (error.get("api") or "?", str(error.get("code") or "error"))
        group = groups.setdefault(key, {"api": key[0], "code": key[1], "events": [], "message": error.get("message")})
        group["events"].append(event)
    return sorted(groups.values(), key=lambda g: -len(g["events"]))


class ProfileScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "back"),
        Binding("r", "run", "run"),
        Binding("R", "full", "reset+run"),
        Binding("d", "dry_run", "dry run"),
        Binding("m", "monitor", "monitor", show=False),
        Binding("c", "toggle_converted", "del. converted"),
        Binding("slash", "filter", "filter"),
        Binding("right_square_bracket", "page(1)", "next page", show=False),
        Binding("left_square_bracket", "page(-1)", "prev page", show=False),
        Binding("y", "copy", "copy id"),
    ]
    HELP = ("Tabs: Last run (enter drills into a count), Skipped (no email first; / filters, [ ] pages), "
            "Unmapped fields, Runs, Errors (enter lists the records), Audit (who changed what).")

    def __init__(self, profile_id: int) -> None:
        super().__init__()
        self.profile_id = profile_id
        self.profile: Profile | None = None
        self.data: ProfileLoaded | None = None
        self.skip_filter = ""
        self.skip_page = 0
        self.skip_pages = 1

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        yield Static(id="settings", classes="settings")
        with TabbedContent(id="tabs"):
            with TabPane("Last run", id="tab-last"):
                yield OpsTable(id="last")
            with TabPane("Skipped", id="tab-skipped"):
                yield Static(id="skip-window", classes="muted")
                yield OpsTable(id="skipped")
            with TabPane("Unmapped", id="tab-unmapped"):
                yield OpsTable(id="unmapped")
            with TabPane("Runs", id="tab-runs"):
                yield OpsTable(id="runs")
            with TabPane("Errors", id="tab-errors"):
                yield OpsTable(id="errors")
            with TabPane("Audit", id="tab-audit"):
                yield OpsTable(id="audit")
        yield Input(placeholder="filter skipped records by reason, name, owner or id", id="filter")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#topbar").set_class(self.app.read_only, "read-only")
        self.load()
        self.load_skipped(self.skip_page, self.skip_filter)  # alongside, not after: it reads its own small file

    @work(thread=True, exclusive=True, group="profile", exit_on_error=False)
    def load(self) -> None:
        ws = self.app.ws
        profile = ws.profile(self.profile_id)
        runs = ws.runs.for_profile(profile.id)
        last = next((r for r in runs if not r.get("dry_run")), None)
        failed = sum((s or {}).get("failed", 0) for s in ((last or {}).get("stats") or {}).values())
        errors = ws.run_events(last["run_id"], "failed") if failed else []
        self.profile = profile
        names = ws.cursors.get(profile.id).get("selection_names") or {}
        audit = [e for e in ws.audit.all() if e.get("profile") == profile.key]
        self.post_message(ProfileLoaded(profile.id, ws.account(profile.account).name, names, runs,
                                        ws.unmapped(profile.id), errors, audit[::-1],
                                        ws.converted_tracked(profile.id)))

    @work(thread=True, exclusive=True, group="skipped", exit_on_error=False)
    def load_skipped(self, page: int, needle: str) -> None:
        rows, total = self.app.ws.skipped_window(self.profile_id, page * PAGE, PAGE, needle)
        self.post_message(SkippedWindow(rows, total, page, needle))

    @on(ProfileLoaded)
    def show(self, message: ProfileLoaded) -> None:
        self.data = message
        profile = self.profile
        top = Text(no_wrap=True, overflow="ellipsis")
        top.append(f"{profile.name} · {message.account_name}", style="bold")
        top.append(f" · profile {profile.id}" + ("  READ-ONLY" if self.app.read_only else ""))
        self.query_one("#topbar", Static).update(top)
        self.query_one("#settings", Static).update(lines(*self.settings_text(profile, message.selection_names)))
        self.fill_last()
        self.fill_unmapped()
        self.fill_runs()
        self.fill_errors()
        self.fill_audit()

    @staticmethod
    def settings_text(profile: Profile, names: dict) -> tuple[str, str, str]:
        o, s = profile.options, profile.segments
        picks = [names.get("campaigns", {}).get(c, c) for c in s.campaigns]
        picks += [names.get("views", {}).get(v, v) for v in s.views]
        step1 = f"Step 1 {profile.object_type.value}; " + (
            "All Active Campaigns" if s.all_active_campaigns else (", ".join(picks) or "no campaigns/views"))
        converted = (f" · Delete converted Leads {'ON' if o.delete_converted_leads else 'OFF'}"
                     if profile.object_type is ObjectType.LEADS else "")
        step3 = (f"Step 3 Field mapping {'ON' if o.field_mapping else 'OFF'}{converted} · opt-out → unsubscribe "
                 f"{'ON' if o.unsubscribe_on_crm_opt_out else 'OFF'} · "
                 f"{f'every {o.schedule_minutes} min' if o.schedule_minutes else 'manual'}")
        return step1, f"Step 2 Main Audience {profile.audience_id}", step3

    # tabs ---------------------------------------------------------------------------------
    def last_run(self) -> dict | None:
        return next((r for r in self.data.runs if not r.get("dry_run")), None) if self.data else None

    def fill_last(self) -> None:
        table = self.query_one("#last", OpsTable)
        table.clear(columns=True)
        run = self.last_run()
        table.add_columns("Outcome", "CRM → Mailchimp", "Mailchimp → CRM")
        if not run:
            table.add_row("no run yet", "", "")
            return
        stats = run.get("stats") or {}
        for outcome in OUTCOMES:
            values = [(stats.get(d.value) or {}).get(outcome, 0) for d in Direction]
            if outcome in OUTCOMES[:6] or any(values):
                table.add_row(outcome.replace("_", " "), *(Text(f"{v:,}", justify="right") for v in values),
                              key=outcome)
        table.border_title = f"run {run['run_id']} · {run['status']} · {run['started_at']}"

    @on(SkippedWindow)
    def fill_skipped(self, message: SkippedWindow) -> None:
        if (message.page, message.needle) != (self.skip_page, self.skip_filter):
            return  # the operator has paged or typed on since this was asked for
        pages = max(1, -(-message.total // PAGE))
        table = self.query_one("#skipped", OpsTable)
        table.clear(columns=True)
        wide = self.size.width >= 110
        table.add_column("Reason", width=14)
        table.add_column("CRM id", width=19)
        table.add_column("Name", width=24 if wide else 14)
        table.add_column("Owner", width=14 if wide else 8)
        table.add_column("Email / winner", width=30 if wide else 13)
        for row in message.rows:
            detail = row.get("email") or ""
            if row.get("winner"):
                detail = f"winner {short_id(row['winner'])} {detail}"
            table.add_row(row.get("reason") or "", lit(row["crm_id"]), lit(row.get("name")), lit(row.get("owner")),
                          lit(detail), key=row["crm_id"])
        first = message.page * PAGE + 1 if message.rows else 0
        self.query_one("#skip-window", Static).update(
            f"{first}-{message.page * PAGE + len(message.rows)} of {message.total:,} skipped"
            + (f" matching '{self.skip_filter}'" if self.skip_filter else "") + ("   [ ] pages" if pages > 1 else ""))
        self.skip_pages = pages

    def fill_unmapped(self) -> None:
        data = self.data.unmapped if self.data else {}
        table = self.query_one("#unmapped", OpsTable)
        table.clear(columns=True)
        table.add_columns("Side", "Field", "Label", "With a value")
        for row in data.get("crm_fields", []):
            table.add_row("CRM", lit(row["field"]), lit(row["label"]), Text(f"{row['records']:,}", justify="right"))
        for row in data.get("merge_fields", []):
            table.add_row("Mailchimp", lit(row["tag"]), lit(row["name"]), Text(f"{row['records']:,}", justify="right"))
        if not table.row_count:
            table.add_row("—", "no run yet" if data.get("note") else "everything with data is mapped", "", "")

    def fill_runs(self) -> None:
        table = self.query_one("#runs", OpsTable)
        table.clear(columns=True)
        table.add_columns("Started", "Kind", "Status", "CRM→MC n/u/s/f", "MC→CRM n/u/s/f")
        for run in (self.data.runs if self.data else []):
            kind = "dry run" if run.get("dry_run") else ("record" if run.get("record") else
                                                          ("full" if run.get("full") else run.get("trigger", "")))
            cells = []
            for d in Direction:
                s = (run.get("stats") or {}).get(d.value) or {}
                cells.append("/".join(f"{s.get(k, 0)}" for k in ("created", "updated", "skipped", "failed")))
            table.add_row(run["started_at"].replace("T", " ")[5:16], kind, status_text(self.app, run["status"]),
                          *cells, key=run["run_id"])

    def fill_errors(self) -> None:
        table = self.query_one("#errors", OpsTable)
        table.clear(columns=True)
        table.add_columns("API", "Code", "Records", "Example")
        for index, group in enumerate(error_groups(self.data.errors if self.data else [])):
            table.add_row(lit(group["api"]), lit(group["code"]), Text(f"{len(group['events']):,}", justify="right"),
                          lit(group["message"], limit=120), key=str(index))
        if not table.row_count:
            table.add_row("—", "no failures in the last run", "", "")

    def fill_audit(self) -> None:
        """Operator actions on this profile, newest first: who, from where, what changed."""
        table = self.query_one("#audit", OpsTable)
        table.clear(columns=True)
        table.add_columns("When", "Who", "What")
        for entry in (self.data.audit if self.data else [])[:200]:
            details = entry.get("details") or {}
            if entry["action"] == "option.set":
                what = f"{details.get('option')}: {details.get('from')} → {details.get('to')}"
            elif entry["action"] == "run.start":
                what = "run " + ("reset + full" if details.get("full") else "incremental") + (
                    f" for {details['record']}" if details.get("record") else "")
            else:
                what = {"profile.add": "profile created"}.get(entry["action"], entry["action"])
            table.add_row(entry["ts"].replace("T", " ")[5:16], lit(entry["actor"], limit=40), lit(what))
        if not table.row_count:
            table.add_row("—", "no operator actions yet", "")

    # drill-downs --------------------------------------------------------------------------
    @on(OpsTable.RowSelected)
    def drill(self, event: OpsTable.RowSelected) -> None:
        from .records import RecordsScreen

        key = event.row_key.value if event.row_key else None
        run = self.last_run()
        if event.data_table.id == "last" and run and key in OUTCOMES[1:6]:
            self.app.push_screen(RecordsScreen(f"{key} in run {run['run_id']}", run_id=run["run_id"], outcome=key))
        elif event.data_table.id == "last" and run and key in ("read", "tagged", "untagged"):
            self.app.push_screen(RecordsScreen(f"{key} in run {run['run_id']}", run_id=run["run_id"],
                                               outcome=None if key == "read" else key))
        elif event.data_table.id == "skipped" and key:
            self.app.open_record(key)
        elif event.data_table.id == "runs" and key:
            self.app.push_screen(RecordsScreen(f"run {key}", run_id=key))
        elif event.data_table.id == "errors" and key is not None and self.data:
            group = error_groups(self.data.errors)[int(key)]
            self.app.push_screen(RecordsScreen(f"{group['api']} {group['code']}", events=group["events"]))

    # actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in MUTATING and self.app.read_only:
            return None
        if action == "toggle_converted" and self.profile and self.profile.object_type is not ObjectType.LEADS:
            return None
        return True

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("visible"):
            box.value = ""
            box.remove_class("visible")
            return
        self.app.pop_screen()

    def action_run(self) -> None:
        self.app.start_run(self.profile_id, RunRequest())

    def action_monitor(self) -> None:
        from .monitor import RunMonitorScreen

        self.app.push_screen(RunMonitorScreen(self.profile_id))

    def action_dry_run(self) -> None:
        self.app.start_run(self.profile_id, RunRequest(dry_run=True))

    def action_full(self) -> None:
        from .modals import ConfirmModal

        question = ("Reset Sync Process and run now?\n\nThe cursors are forgotten and every CRM record and audience "
                    "member is read and matched again. Nothing is deleted; unchanged records are not re-sent.")
        self.app.push_screen(ConfirmModal(question, "Reset and run"),
                             lambda ok: ok and self.app.start_run(self.profile_id, RunRequest(full=True)))

    def action_toggle_converted(self) -> None:
        from .modals import ConfirmModal

        if not self.profile or self.profile.object_type is not ObjectType.LEADS:
            return
        turning_on = not self.profile.options.delete_converted_leads
        still = self.data.converted_tracked if self.data else 0
        if turning_on:
            question = (f"Turn ON \"Delete converted Leads\" for {self.profile.name}?\n\n{still:,} converted leads "
                        "are still tracked by this profile. On the next run their Leads-profile tags are removed "
                        "and the profile stops tracking them; their members stay in the audience, and the "
                        "Contacts profile updates them from then on.")
        else:
            question = (f"Turn OFF \"Delete converted Leads\" for {self.profile.name}?\n\nConverted leads will "
                        "stay tracked by this Leads profile and be counted as \"converted, still tracked\".")
        self.app.push_screen(ConfirmModal(question, "Turn on" if turning_on else "Turn off"),
                             lambda ok: ok and self.set_converted(turning_on))

    @work(thread=True, exclusive=True, group="option", exit_on_error=False)
    def set_converted(self, on_: bool) -> None:
        if self.app.read_only:
            return
        self.app.ws.set_option(self.profile_id, "delete-converted-leads", "on" if on_ else "off", actor=self.app.actor)
        self.app.notify(f"Delete converted Leads {'ON' if on_ else 'OFF'} (recorded in the audit log)")
        self.load()

    def action_filter(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-skipped"
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.skip_filter, self.skip_page = event.value.strip(), 0
        self.load_skipped(0, self.skip_filter)

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one("#skipped").focus()

    def action_page(self, step: int) -> None:
        self.skip_page = max(0, min(self.skip_page + step, self.skip_pages - 1))
        self.load_skipped(self.skip_page, self.skip_filter)

    def action_copy(self) -> None:
        table = self.focused if isinstance(self.focused, OpsTable) else None
        key = table.selected_key if table else None
        self.app.copy_id(key or str(self.profile_id))

    def run_ended(self, profile_id: int) -> None:
        if profile_id == self.profile_id:
            self.load()
            self.load_skipped(self.skip_page, self.skip_filter)
