"""Rules 1-3 and 6 end to end through the sandbox: profiles per plan, CRM → Mailchimp, skips, unmapped."""
import pytest

from engine.model import Direction
from engine.rules.identity import invalid_email_reason, normalize_email
from engine.rules.records import created_order
from engine.workspace import PlanLimitReached

from .conftest import HARBOR_LIST


def test_free_plan_refuses_a_second_profile_naming_the_addon(demo):
    with pytest.raises(PlanLimitReached, match="Additional 2 Sync Profiles"):
        demo.add_profile("harbor-yoga", "leads", HARBOR_LIST)
    assert len([p for p in demo.profiles() if p.account == "harbor-yoga"]) == 1


def test_paid_plan_allows_more_profiles_each_with_one_object_type(demo):
    added = demo.add_profile("northwind", "leads", "a1b2c3d4e5", name="Event leads")
    assert added.object_type.value == "Leads"
    with pytest.raises(ValueError):
        demo.add_profile("northwind", "deals", "a1b2c3d4e5")


def test_every_valid_contact_becomes_a_member_with_basic_fields(world):
    ws = world.ws
    run = ws.run("Members")
    assert run["status"] in ("succeeded", "partial")
    org = world.org("harbor-yoga")
    members = world.audience("harbor-yoga", HARBOR_LIST).members
    winners = {}
    for record in org.modules["Contacts"].values():
        email = normalize_email(record["Email"])
        if not email or invalid_email_reason(email) or email.endswith(("example.com", "test.com")):
            continue
        if email not in winners or created_order(record) < created_order(winners[email]):
            winners[email] = record
    assert winners
    for email, record in winners.items():
        member = world.member(email, "harbor-yoga", HARBOR_LIST)
        assert member is not None, email
    created = [e for e in ws.run_events(run["run_id"], "created") if e["dir"] == Direction.CRM_TO_MC.value]
    for event in created:
        record = org.modules["Contacts"][event["crm_id"]]
        merge = members[world.member(event["email"], "harbor-yoga", HARBOR_LIST)["id"]]["merge_fields"]
        assert merge["FNAME"] == record["First_Name"] and merge["LNAME"] == record["Last_Name"]
        assert merge["PHONE"] == (record["Phone"] or "")


def test_existing_member_is_updated_only_with_field_mapping(world):
    ws = world.ws
    audience = world.audience("harbor-yoga", HARBOR_LIST)
    org = world.org("harbor-yoga")
    crm_emails = {normalize_email(r["Email"]): r for r in org.modules["Contacts"].values() if r["Email"]}
    pre_existing = [m for m in audience.members.values()
                    if normalize_email(m["email_address"]) in crm_emails and m["status"] == "subscribed"]
    assert pre_existing
    target = pre_existing[0]
    ws.run("Members")  # Field Mapping is off on the Harbor profile
    assert world.member(target["email_address"], "harbor-yoga", HARBOR_LIST)["merge_fields"]["FNAME"] == ""

    ws.set_option("Members", "field-mapping", "on", actor="test")
    ws.run("Members")
    record = crm_emails[normalize_email(target["email_address"])]
    assert world.member(target["email_address"], "harbor-yoga", HARBOR_LIST)["merge_fields"]["FNAME"] == record["First_Name"]


def test_records_without_email_are_skipped_visibly(world):
    ws = world.ws
    ws.run("Donors")
    no_email = {r["id"]: r for r in world.org().modules["Contacts"].values() if not r["Email"]}
    skipped = {r["crm_id"]: r for r in ws.skipped("Donors") if r["reason"] == "no_email"}
    assert no_email and set(no_email) == set(skipped)
    some = next(iter(no_email.values()))
    row = skipped[some["id"]]
    assert row["name"] == f"{some['First_Name']} {some['Last_Name']}" and row["owner"] == some["Owner"]["name"]
    assert ws.skipped("Donors")[0]["reason"] == "no_email"  # no email comes first


def test_invalid_and_fake_emails_are_skipped_as_invalid(world):
    ws = world.ws
    run = ws.run("Donors")
    skipped = ws.run_events(run["run_id"], "skipped")
    invalid = [e for e in skipped if e["reason"] == "invalid_email"]
    assert any("rejected by Mailchimp" in e["detail"] for e in invalid)
    assert any("rejected by Mailchimp" not in e["detail"] for e in invalid)
    fake = next(e for e in invalid if "rejected by Mailchimp" in e["detail"])
    assert world.member(fake["email"]) is None


def test_duplicate_emails_earliest_created_wins_and_names_winner(world):
    ws = world.ws
    ws.run("Donors")
    dupes = [r for r in ws.skipped("Donors") if r["reason"] == "duplicate_email"]
    assert dupes
    contacts = world.org().modules["Contacts"]
    for row in dupes:
        loser, winner = contacts[row["crm_id"]], contacts[row["winner"]]
        assert normalize_email(loser["Email"]) == normalize_email(winner["Email"])
        assert created_order(winner) < created_order(loser)


def test_unmapped_fields_report_custom_fields_with_data_and_unmapped_merge_fields(world):
    ws = world.ws
    ws.run("Donors")
    report = ws.unmapped("Donors")
    crm = {r["field"]: r["records"] for r in report["crm_fields"]}
    assert crm.get("Donor_Tier", 0) > 0 and crm.get("Twitter", 0) > 0
    assert "First_Name" not in crm and "Email" not in crm
    merge = {r["tag"]: r["records"] for r in report["merge_fields"]}
    assert "COMPANY" in merge and merge["COMPANY"] > 0 and "FNAME" not in merge
