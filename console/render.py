"""Rich renderings for the CLI. Every untrusted value goes through `inert` and into literal Text."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text

from engine.explain import describe_event, explain_now, run_totals
from engine.model import Direction, Profile
from engine.sync.schedule import health
from engine.text import inert, short_id
from engine.workspace import Workspace


def lit(value: object) -> Text:
    return Text(inert(value))


def profiles_table(ws: Workspace, overview: list[dict]) -> Table:
    table = Table("Account / Profile", "Type", "Last run", "Status", "Health", "New", "Upd", "Skip", "Fail",
                  title=f"syncops · {ws.layout.root}")
    for entry in overview:
        limit = "∞" if entry["limit"] is None else entry["limit"]
        table.add_row(Text(f"{inert(entry['account'].name)} · {entry['plan']} {entry['used']}/{limit}",
                           style="bold"), "", "", "", "", "", "", "", "")
        for item in entry["profiles"]:
            profile, run = item["profile"], item["last_run"]
            total = run_totals(run)
            table.add_row(Text(f"  {profile.id} {inert(profile.name)}"), profile.object_type.value,
                          (run or {}).get("started_at") or "never", (run or {}).get("status") or "",
                          health(ws, profile, run), *(str(total[k]) if run else "" for k in total))
    return table


def run_summary(profile: Profile, run: dict) -> Table:
    kind = "dry run" if run.get("dry_run") else ("full sync" if run.get("full") else "incremental")
    table = Table("Direction", "Read", "Created", "Updated", "Unchanged", "Skipped", "Failed", "Tags +/-",
                  title=f"{inert(profile.key)} · {kind} · {run['status']} · run {run['run_id']}")
    for d in Direction:
        s = (run.get("stats") or {}).get(d.value) or {}
        table.add_row("CRM → Mailchimp" if d is Direction.CRM_TO_MC else "Mailchimp → CRM",
                      *(f"{s.get(k, 0):,}" for k in ("read", "created", "updated", "unchanged", "skipped", "failed")),
                      f"{s.get('tagged', 0)}/{s.get('untagged', 0)}")
    notes = []
    crm = (run.get("stats") or {}).get(Direction.CRM_TO_MC.value) or {}
    if crm.get("converted"):
        notes.append(f"{crm['converted']} converted leads removed from this profile")
    if crm.get("converted_still_tracked"):
        notes.append(f"{crm['converted_still_tracked']} converted, still tracked as Leads")
    if run.get("requests"):
        r = run["requests"]
        notes.append(f"requests: Zoho {r['zoho']}, Mailchimp {r['mailchimp']}, retries {r['retries']}")
    if run.get("error"):
        notes.append(f"error: {inert(run['error'].get('message'))}")
    if notes:
        table.caption = Text(" · ".join(notes))
    return table


def history_table(ws: Workspace, events: list[dict]) -> Table:
    names = {p.id: p.name for p in ws.profiles()}
    table = Table("When", "Profile", "Dir", "Record", "What", title=lit(explain_now(events)), title_justify="left")
    for e in events:
        record = short_id(e.get("crm_id")) or inert(e.get("email"), 40)
        table.add_row(e["ts"].replace("T", " ")[:19], lit(names.get(e["profile"], e["profile"])), e["dir"],
                      lit(record), lit(describe_event(e)))
    return table


def skipped_table(rows: list[dict]) -> Table:
    table = Table("Reason", "CRM id", "Name", "Owner", "Email / winner")
    for r in rows:
        table.add_row(r.get("reason"), r["crm_id"], lit(r.get("name")), lit(r.get("owner")),
                      lit(r.get("email") or (f"winner {r['winner']}" if r.get("winner") else "")))
    table.caption = f"{len(rows)} skipped"
    return table


def unmapped_tables(data: dict) -> list[Table]:
    crm = Table("CRM field", "Label", "Records with a value", title="CRM fields holding data, not mapped")
    for r in data.get("crm_fields", []):
        crm.add_row(lit(r["field"]), lit(r["label"]), str(r["records"]))
    merge = Table("Merge tag", "Name", "Members with a value", title="Merge fields not mapped")
    for r in data.get("merge_fields", []):
        merge.add_row(lit(r["tag"]), lit(r["name"]), str(r["records"]))
    return [crm, merge]
