"""Rules 4 and 5 end to end: Mailchimp → CRM creation and updates, and consent in both directions."""
from engine.rules.identity import normalize_email
from engine.rules.records import LAST_NAME_FALLBACK

from .conftest import HARBOR_LIST


def _mailchimp_only(world, account="harbor-yoga", list_id=HARBOR_LIST):
    crm = {normalize_email(r["Email"]) for r in world.org(account).modules["Contacts"].values() if r["Email"]}
    return [m for m in world.audience(account, list_id).members.values()
            if normalize_email(m["email_address"]) not in crm]


def test_preexisting_members_without_crm_record_are_created_in_crm(world):
    only_mc = _mailchimp_only(world)
    creatable = [m for m in only_mc if m["status"] in ("subscribed", "unsubscribed")]
    never = [m for m in only_mc if m["status"] in ("cleaned", "archived")]
    assert creatable and never
    world.ws.run("Members")
    for member in creatable:
        records = world.crm_by_email(normalize_email(member["email_address"]), account="harbor-yoga")
        assert len(records) == 1, member["email_address"]
        record = records[0]
        assert record["Last_Name"] == (member["merge_fields"]["LNAME"] or LAST_NAME_FALLBACK)
        assert record["Email_Opt_Out"] is (member["status"] == "unsubscribed")
    for member in never:
        assert world.crm_by_email(normalize_email(member["email_address"]), account="harbor-yoga") == []


def test_second_run_creates_no_duplicates(world):
    world.ws.run("Members")
    before = len(world.org("harbor-yoga").modules["Contacts"])
    run = world.ws.run("Members")
    assert len(world.org("harbor-yoga").modules["Contacts"]) == before
    assert run["stats"]["mc>crm"]["created"] == 0 and run["stats"]["crm>mc"]["created"] == 0


def test_crm_records_are_updated_from_mailchimp_only_with_field_mapping(world):
    ws = world.ws
    ws.run("Members")
    member = next(m for m in world.audience("harbor-yoga", HARBOR_LIST).members.values() if m["status"] == "subscribed"
                  and world.crm_by_email(normalize_email(m["email_address"]), account="harbor-yoga"))
    email = normalize_email(member["email_address"])

    def rename(state):
        audience = state.accounts["harbor-yoga"].mailchimp.audiences[HARBOR_LIST]
        m = audience.members[member["id"]]
        m["merge_fields"]["FNAME"] = "Renamed"
        m["last_changed"] = state.now()
        audience.members[member["id"]] = m
        audience.version += 1
        state.accounts["harbor-yoga"].dirty = True

    world.edit(rename)
    ws.run("Members")  # mapping off: the CRM keeps its name
    assert world.crm_by_email(email, account="harbor-yoga")[0]["First_Name"] != "Renamed"
    ws.set_option("Members", "field-mapping", "on", actor="test")
    ws.run("Members")  # mapping changed: full re-match, CRM wins for records it sent
    world.edit(rename)
    ws.run("Members")
    assert world.crm_by_email(email, account="harbor-yoga")[0]["First_Name"] == "Renamed"


def test_mailchimp_unsubscribe_sets_email_opt_out(world):
    ws = world.ws
    ws.run("Members")
    member = next(m for m in world.audience("harbor-yoga", HARBOR_LIST).members.values() if m["status"] == "subscribed"
                  and world.crm_by_email(normalize_email(m["email_address"]), account="harbor-yoga"))
    world.edit(lambda s: s.set_member_status("harbor-yoga", HARBOR_LIST, member["email_address"], "unsubscribed"))
    run = ws.run("Members")
    record = world.crm_by_email(normalize_email(member["email_address"]), account="harbor-yoga")[0]
    assert record["Email_Opt_Out"] is True
    assert run["stats"]["mc>crm"]["opt_outs"] >= 1


def _opt_out_in_crm(world, account="harbor-yoga"):
    """Opt a synced, subscribed contact out in CRM; returns its email."""
    members = world.audience(account, HARBOR_LIST).members
    record = next(r for r in world.org(account).modules["Contacts"].values() if r["Email"]
                  and (m := members.get(__import__("engine.rules.identity", fromlist=["x"]).member_hash(r["Email"])))
                  and m["status"] == "subscribed" and not r["Email_Opt_Out"])
    world.edit(lambda s: s.edit_crm_record(account, "Contacts", record["id"], Email_Opt_Out=True))
    return normalize_email(record["Email"])


def test_crm_opt_out_unsubscribes_only_when_option_is_on(world):
    ws = world.ws
    ws.run("Members")
    email = _opt_out_in_crm(world)
    ws.run("Members")
    assert world.member(email, "harbor-yoga", HARBOR_LIST)["status"] == "subscribed"  # option off by default

    ws.set_option("Members", "unsubscribe-on-opt-out", "on", actor="test")
    email2 = _opt_out_in_crm(world)
    ws.run("Members")
    assert world.member(email2, "harbor-yoga", HARBOR_LIST)["status"] == "unsubscribed"
    assert any(e["action"] == "unsubscribed" for e in ws.history(email2))


def test_unsubscribed_and_cleaned_members_are_never_resubscribed(world):
    ws = world.ws
    ws.set_option("Members", "field-mapping", "on", actor="test")
    before = {h: m["status"] for h, m in world.audience("harbor-yoga", HARBOR_LIST).members.items()
              if m["status"] in ("unsubscribed", "cleaned")}
    assert before
    ws.run("Members")
    ws.run("Members", __import__("engine.sync.run", fromlist=["x"]).RunRequest(full=True))
    after = world.audience("harbor-yoga", HARBOR_LIST).members
    assert all(after[h]["status"] == status for h, status in before.items())
