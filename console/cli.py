"""`syncops`: the headless CLI; with no subcommand it opens the console."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.config import ConfigError
from engine.model import Direction
from engine.store.layout import default_data_dir
from engine.store.storage import StoreCorrupt
from engine.sync.run import AlreadyRunning, RunRequest
from engine.text import inert
from engine.workspace import PlanLimitReached, UnknownProfile, Workspace

from .render import history_table, profiles_table, run_summary, skipped_table, unmapped_tables

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
EXPECTED = (ConfigError, UnknownProfile, PlanLimitReached, ValueError, LookupError, StoreCorrupt)


def emit_json(data: object) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


class SyncopsGroup(click.Group):
    """Turns expected failures into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AlreadyRunning as exc:
            err.print(Text(f"syncops: {exc}", style="yellow"), soft_wrap=True)
            sys.exit(3)
        except EXPECTED as exc:
            err.print(Text(f"syncops: {inert(exc, 2000)}", style="red"), soft_wrap=True)
            sys.exit(2)


@click.group(cls=SyncopsGroup, invoke_without_command=True)
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="SYNCOPS_DATA_DIR",
              help="Where syncops keeps its store (default: the XDG data dir).")
@click.option("--read-only", is_flag=True, help="Console: disable every mutating action.")
@click.option("--theme", default=None, help="Console theme: syncops-dark, syncops-light or syncops-ansi.")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, read_only: bool, theme: str | None) -> None:
    """syncops: Zoho CRM ↔ Mailchimp sync engine and operations console."""
    ctx.obj = data_dir or default_data_dir()
    if ctx.invoked_subcommand is None:
        from .launch import open_console

        open_console(ctx.obj, read_only=read_only, theme=theme)


def workspace(ctx: click.Context) -> Workspace:
    ws = Workspace(ctx.obj)
    for notice in ws.notices:
        err.print(Text(f"syncops: {inert(notice, 2000)}", style="yellow"), soft_wrap=True)
    return ws


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def profiles(ctx: click.Context, as_json: bool) -> None:
    """Accounts, profiles, options and the last run of each."""
    ws = workspace(ctx)
    overview = ws.overview()
    if as_json:
        emit_json([{"account": o["account"].__dict__, "plan": o["plan"], "profiles_used": o["used"],
                    "profiles_allowed": o["limit"],
                    "profiles": [p["profile"].to_doc() | {"last_run": _run_brief(p["last_run"])}
                                 for p in o["profiles"]]} for o in overview])
        return
    out.print(profiles_table(ws, overview))


def _run_brief(run: dict | None) -> dict | None:
    if run is None:
        return None
    return {k: run.get(k) for k in ("run_id", "status", "started_at", "finished_at", "stats", "error", "requests")}


@main.group()
def profile() -> None:
    """Create sync profiles."""


@profile.command("add")
@click.argument("account")
@click.option("--object", "object_type", required=True, type=click.Choice(["contacts", "leads"], case_sensitive=False))
@click.option("--audience", required=True, help="Mailchimp audience (list) id: the Main Audience.")
@click.option("--name", default=None)
@click.option("--field-mapping/--no-field-mapping", default=False)
@click.option("--campaign", "campaigns", multiple=True, help="Zoho campaign id to segment as a tag (repeatable).")
@click.option("--view", "views", multiple=True, help="Zoho list view (custom view) id to segment as a tag.")
@click.option("--all-active-campaigns", is_flag=True)
@click.option("--schedule", default="15", help="Minutes between scheduled runs, or 'manual'.")
@click.pass_context
def profile_add(ctx, account, object_type, audience, name, field_mapping, campaigns, views, all_active_campaigns,
                schedule) -> None:
    """Create a profile (the account's plan limit is enforced)."""
    from engine.model import Options, Segments

    minutes = None if schedule in ("manual", "off") else int(schedule)
    created = workspace(ctx).add_profile(account, object_type, audience, name=name,
                                         options=Options(field_mapping=field_mapping, schedule_minutes=minutes),
                                         segments=Segments(list(campaigns), list(views), all_active_campaigns))
    out.print(Text(f"created profile {created.id}: {created.key} ({created.object_type.value} → {audience})"))


@main.command()
@click.argument("profile_ref")
@click.option("--full", is_flag=True, help="Reset Sync Process first: forget cursors and re-match everything.")
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
@click.option("--record", default=None, help="Sync just this email or CRM id now.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--progress-jsonl", is_flag=True, hidden=True, help="Progress as JSON lines (for the console).")
@click.option("--actor", default="", hidden=True, help="Who asked for the run (the console passes its operator).")
@click.pass_context
def run(ctx, profile_ref, full, dry_run, record, as_json, progress_jsonl, actor) -> None:
    """Run one profile; exit 0 on success (item failures reported), 1 if the run failed, 3 if already running."""
    from .progress import RunProgress, json_lines

    ws = workspace(ctx)
    request = RunRequest(full=full, dry_run=dry_run, record=record, actor=actor)
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())  # graceful: finish the batch, record "cancelled"
    if progress_jsonl:
        try:
            result = ws.run(profile_ref, request, on_progress=json_lines, cancel=cancel)
        except AlreadyRunning as exc:
            json_lines({"error": str(exc)}, key="error")
            sys.exit(3)
        json_lines({k: v for k, v in result.items() if k != "dry_events"}, key="run")
        sys.exit(1 if result["status"] == "failed" else 0)
    with RunProgress(err, enabled=not as_json) as progress:
        try:
            result = ws.run(profile_ref, request, on_progress=progress.update, cancel=cancel)
        except KeyboardInterrupt:
            cancel.set()
            raise
    if as_json:
        result = {k: v for k, v in result.items() if k != "dry_events"}
        emit_json(result)
    else:
        out.print(run_summary(ws.profile(profile_ref), result))
    sys.exit(1 if result["status"] == "failed" else 0)


@main.command()
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def history(ctx, key, as_json) -> None:
    """A record's flow history across profiles, oldest first (KEY: email or CRM id)."""
    events = workspace(ctx).history(key)
    if as_json:
        emit_json(events)
    elif not events:
        out.print(Text(f"no history for {inert(key)}"))
    else:
        out.print(history_table(workspace(ctx), events))


@main.command()
@click.argument("profile_ref")
@click.option("--reason", default=None, help="Only this reason, e.g. no_email.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def skipped(ctx, profile_ref, reason, as_json) -> None:
    """Skipped CRM records of a profile, no email first."""
    rows = [r for r in workspace(ctx).skipped(profile_ref) if reason is None or r.get("reason") == reason]
    if as_json:
        emit_json([{k: r.get(k) for k in ("crm_id", "reason", "name", "owner", "email", "winner")} for r in rows])
    else:
        out.print(skipped_table(rows))


@main.command()
@click.argument("profile_ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def unmapped(ctx, profile_ref, as_json) -> None:
    """CRM fields with data but no mapping, and merge fields with no mapping."""
    data = workspace(ctx).unmapped(profile_ref)
    if as_json:
        emit_json(data)
    else:
        for table in unmapped_tables(data):
            out.print(table)


@main.command("set")
@click.argument("profile_ref")
@click.argument("option", type=click.Choice(["delete-converted-leads", "field-mapping", "unsubscribe-on-opt-out",
                                             "schedule"]))
@click.argument("value")
@click.pass_context
def set_option(ctx, profile_ref, option, value) -> None:
    """Change a profile option (recorded in the audit log with who did it)."""
    changed = workspace(ctx).set_option(profile_ref, option, value)
    out.print(Text(f"{changed.key}: {option} = {value}"))


@main.command()
@click.argument("profile_ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs(ctx, profile_ref, as_json) -> None:
    """The profile's run history, newest first."""
    ws = workspace(ctx)
    rows = ws.runs.for_profile(ws.profile(profile_ref).id)
    if as_json:
        emit_json([_run_brief(r) for r in rows])
        return
    table = Table("run", "started", "status", "CRM→MC read/new/upd/same/skip/fail", "MC→CRM read/new/upd/same/skip/fail")
    for r in rows:
        cells = []
        for d in Direction:
            s = (r.get("stats") or {}).get(d.value) or {}
            cells.append("/".join(str(s.get(k, 0)) for k in ("read", "created", "updated", "unchanged", "skipped", "failed")))
        table.add_row(r["run_id"], r["started_at"], r["status"] + (" (dry)" if r.get("dry_run") else ""), *cells)
    out.print(table)


@main.command()
@click.argument("run_id")
@click.option("--outcome", type=click.Choice(["created", "updated", "unchanged", "skipped", "failed"]), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def records(ctx, run_id, outcome, as_json) -> None:
    """The records behind a run's counts (drill-down)."""
    ws = workspace(ctx)
    events = ws.run_events(run_id, outcome)
    if as_json:
        emit_json(events)
    else:
        out.print(history_table(ws, events))


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit(ctx, as_json) -> None:
    """Operator actions: who changed what, when."""
    entries = workspace(ctx).audit.all()
    if as_json:
        emit_json(entries)
        return
    table = Table("when", "who", "action", "profile", "details")
    for e in entries:
        table.add_row(e["ts"], Text(inert(e["actor"])), e["action"], Text(inert(e.get("profile"))),
                      Text(inert(orjson.dumps(e["details"]).decode())))
    out.print(table)


@main.command()
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@click.option("--tick", default=30.0, help="Seconds between checks.")
@click.pass_context
def scheduler(ctx, once, tick) -> None:
    """Run each profile when its schedule says it is due; never two runs of one profile at once."""
    from .schedule import run_scheduler

    run_scheduler(workspace(ctx), once=once, tick_s=tick, console=out)


from .sandbox_cli import sandbox  # noqa: E402  (registers the `sandbox` group)

main.add_command(sandbox)

if __name__ == "__main__":
    main()
