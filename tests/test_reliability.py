"""Faults and per-item failures: the end state is the fault-free one, and every failure is recorded."""
import pytest

from engine.rules.identity import normalize_email
from engine.workspace import Workspace

from .conftest import FAST_RETRIES, HARBOR_LIST, NORTHWIND_LIST


def end_state(ws: Workspace) -> tuple[dict, list]:
    state = ws.sandbox.state.load()
    members = {h: (m["status"], sorted(m["tags"]), m["merge_fields"].get("FNAME"))
               for a in state.accounts.values() for aud in a.mailchimp.audiences.values()
               for h, m in aud.members.items()}
    crm = sorted((normalize_email(r.get("Email")), r.get("Email_Opt_Out"), r.get("Last_Name"), module)
                 for a in state.accounts.values() for module, rows in a.zoho.modules.items() for r in rows.values())
    return members, crm


def sync_everything(ws: Workspace, passes: int = 2, profiles: list[str] | None = None) -> None:
    for _ in range(passes):
        for profile in profiles or [p.id for p in ws.profiles()]:
            run = ws.run(profile)
            assert run["status"] != "failed", run["error"]


@pytest.mark.slow
def test_a_10k_sync_under_faults_ends_exactly_like_a_clean_one(tmp_path):
    clean = Workspace(tmp_path / "clean", retry_policy=FAST_RETRIES)
    clean.reset_sandbox(records=10_000)
    sync_everything(clean)
    faulty = Workspace(tmp_path / "faulty", retry_policy=FAST_RETRIES)
    faulty.reset_sandbox(records=10_000)
    with faulty.sandbox.session() as box:
        faults = box.state.faults
        faults.rate_429, faults.rate_5xx, faults.rate_timeout = 0.10, 0.05, 0.02
        faults.retry_after_s, faults.token_ttl_requests = 0.01, 40
    sync_everything(faulty)
    injected = faulty.sandbox.injected_faults()
    requests = sum(r["requests"]["zoho"] + r["requests"]["mailchimp"] for r in faulty.runs.all())
    assert injected["429"] >= 0.05 * requests and injected["5xx"] >= 0.02 * requests and injected["timeout"] >= 3
    clean_members, clean_crm = end_state(clean)
    faulty_members, faulty_crm = end_state(faulty)
    assert faulty_members == clean_members  # none lost, none duplicated, no consent changed
    assert faulty_crm == clean_crm
    state = faulty.sandbox.state.load()
    for account in state.accounts.values():
        for module, rows in account.zoho.modules.items():
            records = list(rows.values())
            ours = [normalize_email(r["Email"]) for r in records if r["Owner"]["name"] == "API"]
            theirs = {normalize_email(r["Email"]) for r in records if r["Owner"]["name"] != "API"
                      and not r.get("Converted__s")}
            assert len(ours) == len(set(ours)) and not set(ours) & theirs  # syncops created no duplicate
    refreshes = sum(r["requests"]["token_refreshes"] for r in faulty.runs.all())
    assert refreshes > len(faulty.runs.all())
    print(f"\nfaults survived over {requests} requests: {injected}, token refreshes {refreshes}")


def test_a_required_merge_field_fails_those_records_only(demo):
    with demo.sandbox.session() as box:
        audience = box.state.accounts["harbor-yoga"].mailchimp.audiences[HARBOR_LIST]
        for merge_field in audience.merge_fields:
            merge_field["required"] = merge_field["tag"] == "COMPANY"
        box.state.accounts["harbor-yoga"].dirty = True
    run = demo.run("Members")
    assert run["status"] == "partial"
    failed = demo.run_events(run["run_id"], "failed")
    assert failed and all("COMPANY - Please enter a value" in e["error"]["message"] for e in failed)
    assert run["stats"]["mc>crm"]["created"] > 0  # the rest of the run went on


def test_signup_throttling_is_retried_on_the_next_run(demo):
    with demo.sandbox.session() as box:
        box.state.faults.signup_throttled_domains = ["acme.org"]
    first = demo.run("Members")
    throttled = [e for e in demo.run_events(first["run_id"], "failed") if "very recently" in e["error"]["message"]]
    assert throttled
    with demo.sandbox.session() as box:
        box.state.faults.signup_throttled_domains = []
    second = demo.run("Members")
    retried = {e["crm_id"] for e in demo.run_events(second["run_id"], "created")}
    assert {e["crm_id"] for e in throttled} <= retried


def test_invalid_crm_data_is_recorded_with_zohos_error(demo):
    with demo.sandbox.session() as box:
        audience = box.state.accounts["northwind"].mailchimp.audiences[NORTHWIND_LIST]
        member = next(m for m in audience.members.values() if m["status"] == "subscribed"
                      and m["email_address"].endswith("gmail.com"))
        member["merge_fields"]["LNAME"] = "L" * 200
        member["last_changed"] = box.state.now()
        audience.members[member["id"]] = member
        box.state.accounts["northwind"].dirty = True
    run = demo.run("Donors")
    failure = next(e for e in demo.run_events(run["run_id"], "failed") if e["email"] == member["email_address"])
    assert failure["error"]["code"] == "INVALID_DATA" and failure["error"]["details"]["maximum_length"] == 80
    assert run["status"] == "partial" and run["stats"]["mc>crm"]["created"] > 0


def test_a_member_mailchimp_holds_for_consent_is_skipped_with_its_reason(demo):
    from engine.rules.identity import member_hash

    from engine.rules.identity import invalid_email_reason

    record = next(r for r in demo.sandbox.state.load().accounts["harbor-yoga"].zoho.modules["Contacts"].values()
                  if r["Email"] and r["Email"].strip().endswith("@acme.org")
                  and not invalid_email_reason(normalize_email(r["Email"])))
    email = normalize_email(record["Email"])
    with demo.sandbox.session() as box:
        audience = box.state.accounts["harbor-yoga"].mailchimp.audiences[HARBOR_LIST]
        audience.members.pop(member_hash(email), None)
        audience.forgotten.append(member_hash(email))
        box.state.accounts["harbor-yoga"].dirty = True
    run = demo.run("Members")
    event = next(e for e in demo.run_events(run["run_id"], "skipped") if e.get("crm_id") == record["id"])
    assert event["reason"] == "compliance_state" and "permanently deleted" in event["detail"]
    assert run["status"] in ("succeeded", "partial") and run["stats"]["crm>mc"]["created"] > 0
