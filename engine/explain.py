"""One sentence answers "where is this record now, and why" from its flow history."""
from __future__ import annotations

from .text import inert, short_id

REASON_TEXT = {
    "no_email": "the CRM record has no email address",
    "invalid_email": "its email address is not valid",
    "duplicate_email": "another CRM record with the same email was created first",
    "converted_lead": "the Lead was converted to a Contact",
    "member_cleaned": "the member is cleaned in Mailchimp",
    "member_archived": "the member is archived in Mailchimp",
    "compliance_state": "Mailchimp holds the member in a compliance state",
    "owned_by_other_profile": "another profile on the same audience syncs it",
    "left_to_contacts_profile": "the Contacts profile on the same audience creates it",
}


HOME_COUNTS = ("created", "updated", "skipped", "failed")


def run_totals(run: dict | None) -> dict[str, int]:
    """A run's created / updated / skipped / failed, both directions together (the home screen's columns)."""
    stats = (run or {}).get("stats") or {}
    return {k: sum((s or {}).get(k, 0) for s in stats.values()) for k in HOME_COUNTS}


def describe_event(event: dict) -> str:
    """What one event says, in words (without the time and profile)."""
    action = event["action"]
    obj = event.get("object", "record")[:-1] if event.get("object") else "record"
    target = event.get("target")
    if action == "skipped":
        text = f"skipped: {REASON_TEXT.get(event.get('reason'), event.get('reason'))}"
        if event.get("winner"):
            text += f" (winner {short_id(event['winner'])})"
        if event.get("contact_id"):
            text += f" → Contact {short_id(event['contact_id'])}"
    elif action in ("created", "updated"):
        where = "member" if target == "mailchimp" else f"{obj} in CRM"
        fields = " · ".join(f"{k} {_value(v[0])} → {_value(v[1])}" if v[0] not in (None, "") else f"{k} {_value(v[1])}"
                            for k, v in (event.get("changes") or {}).items())
        text = f"{action} {where}" + (f"  {fields}" if fields else "")
    elif action in ("tagged", "untagged"):
        text = f'{action} "{inert(event.get("tag"))}"'
    elif action == "failed":
        error = event.get("error") or {}
        text = f"failed: {error.get('api', '')} {error.get('code') or ''} {inert(error.get('message'))}".strip()
    elif action == "unchanged":
        text = f"read {obj} {short_id(event.get('crm_id'))}, nothing to change".replace("  ", " ")
    else:
        text = action + (f": {inert(event.get('detail'))}" if event.get("detail") else "")
    return inert(text)


def _value(value: object) -> str:
    return f'"{inert(value, 60)}"' if isinstance(value, str) else inert(value)


def explain_now(events: list[dict]) -> str:
    """The latest state in one sentence, e.g. for a ticket."""
    if not events:
        return "No history: syncops has never read this record."
    last_outcome = next((e for e in reversed(events)
                         if e["action"] in ("created", "updated", "unchanged", "skipped", "failed")), events[-1])
    skips = [e for e in events if e["action"] == "skipped" and e.get("reason") == last_outcome.get("reason")]
    tags = {}
    for e in events:
        if e["action"] in ("tagged", "untagged"):
            tags[e.get("tag")] = e["action"] == "tagged"
    converted = next((e for e in reversed(events) if e.get("reason") == "converted_lead" and e.get("contact_id")), None)
    if last_outcome["action"] == "skipped" and converted and last_outcome.get("reason") == "converted_lead":
        return inert(f"Converted: Lead {short_id(converted.get('crm_id'))} became Contact "
                     f"{short_id(converted['contact_id'])} (seen {converted['ts'][:10]}); it left the Leads profile, "
                     "the member is kept and the Contacts profile syncs it.", 1000)
    if last_outcome["action"] == "skipped":
        text = (f"Not synced: {REASON_TEXT.get(last_outcome.get('reason'), last_outcome.get('reason'))} "
                f"(skipped in {len({e['run'] for e in skips})} run(s) since {skips[0]['ts'][:10]}).")
    elif last_outcome["action"] == "failed":
        text = f"Last sync failed: {describe_event(last_outcome).removeprefix('failed: ')}."
    else:
        text = "Synced: member of the Main Audience"
        active = [t for t, on in tags.items() if on]
        if active:
            text += " with tag" + ("s " if len(active) > 1 else " ") + ", ".join(f'"{t}"' for t in active)
        crm = next((e.get("crm_id") for e in reversed(events) if e.get("crm_id")), None)
        text += f"; CRM {events[-1].get('object', 'record')[:-1]} {short_id(crm)}." if crm else "."
    if converted:
        text += f" Lead {short_id(converted.get('crm_id'))} was converted to Contact {short_id(converted['contact_id'])}."
    return inert(text, 1000)
