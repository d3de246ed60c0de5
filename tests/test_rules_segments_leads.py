"""Rules 7-9 end to end: campaign/view tags, converted leads, incremental runs and reset."""
from engine.rules.identity import normalize_email
from engine.rules.records import tag_name
from engine.sync.run import RunRequest


def test_selected_campaigns_and_views_become_tags_on_members(world):
    ws = world.ws
    ws.run("Donors")
    org = world.org()
    profile = ws.profile("Donors")
    campaign = org.campaigns[profile.segments.campaigns[0]]
    tag = tag_name("campaign", campaign["Campaign_Name"])
    assert tag == f"Zoho Campaign: {campaign['Campaign_Name']}"
    assert tag in world.audience().segments.values()
    synced = {r["crm_id"] for r in ws.skipped("Donors")}
    in_campaign = [org.modules["Contacts"][rid] for rid in campaign["members"]["Contacts"] if rid not in synced]
    tagged = [r for r in in_campaign if (m := world.member(normalize_email(r["Email"]))) and tag in m["tags"]]
    assert tagged and len(tagged) == len([r for r in in_campaign if world.member(normalize_email(r["Email"]))])
    view_tag = tag_name("view", "Gold donors")
    gold = [r for r in org.modules["Contacts"].values() if r.get("Donor_Tier") == "Gold" and r["id"] not in synced
            and world.member(normalize_email(r["Email"]))]
    assert gold and all(view_tag in world.member(normalize_email(r["Email"]))["tags"] for r in gold)


def test_a_record_that_leaves_a_view_loses_its_tag(world):
    ws = world.ws
    ws.run("Donors")
    view_tag = tag_name("view", "Gold donors")
    skipped = {r["crm_id"] for r in ws.skipped("Donors")}
    record = next(r for r in world.org().modules["Contacts"].values() if r.get("Donor_Tier") == "Gold"
                  and r["id"] not in skipped and world.member(normalize_email(r["Email"])))
    world.edit(lambda s: s.edit_crm_record("northwind", "Contacts", record["id"], Donor_Tier="Silver"))
    run = ws.run("Donors")
    assert view_tag not in world.member(normalize_email(record["Email"]))["tags"]
    assert run["stats"]["crm>mc"]["untagged"] >= 1
    assert any(e["action"] == "untagged" and e["tag"] == view_tag for e in ws.history(record["id"]))


def _converted_lead(world):
    skipped = {r["crm_id"] for r in world.ws.skipped("Leads")}
    return next(r for r in world.org().modules["Leads"].values() if r.get("Converted__s") and r["Email"]
                and r["id"] not in skipped and world.member(normalize_email(r["Email"])))


def test_converted_leads_stay_tracked_when_option_is_off(world):
    ws = world.ws
    run = ws.run("Leads")
    converted = sum(bool(r.get("Converted__s")) for r in world.org().modules["Leads"].values())
    assert run["stats"]["crm>mc"]["converted_still_tracked"] > 0
    assert run["stats"]["crm>mc"]["converted_still_tracked"] <= converted
    lead = _converted_lead(world)
    assert ws.history(lead["id"])[-1]["action"] != "skipped"


def test_delete_converted_leads_untags_forgets_and_records_the_contact(world):
    ws = world.ws
    ws.run("Leads")
    lead = _converted_lead(world)
    email = normalize_email(lead["Email"])
    tags_before = set(world.member(email)["tags"])
    leads_tags = {t for t in tags_before if t.startswith("Zoho Campaign")}
    ws.set_option("Leads", "delete-converted-leads", "on", actor="ana@support")
    ws.run("Leads")  # an incremental run revisits the converted leads once the option is turned on
    member = world.member(email)
    assert member is not None and member["status"] == world.member(email)["status"]
    assert not (set(member["tags"]) & leads_tags)
    assert all(r["crm_id"] != lead["id"] for r in ws.skipped("Leads"))
    history = ws.history(email)
    conversion = [e for e in history if e.get("reason") == "converted_lead"]
    contact = world.crm_by_email(email, "Contacts")[0]
    assert conversion and conversion[-1]["contact_id"] == contact["id"]
    audit = [a for a in ws.audit.all() if a["action"] == "option.set"][-1]
    assert audit["actor"] == "ana@support" and audit["details"] == {
        "option": "delete-converted-leads", "from": False, "to": True}


def test_contacts_profile_updates_a_converted_leads_member_from_then_on(world):
    ws = world.ws
    ws.set_option("Leads", "delete-converted-leads", "on", actor="test")
    ws.run("Leads")
    ws.run("Donors")
    lead = _converted_lead(world)
    contact = world.crm_by_email(normalize_email(lead["Email"]), "Contacts")[0]
    world.edit(lambda s: s.edit_crm_record("northwind", "Contacts", contact["id"], Phone="+1 555 0100"))
    ws.run("Leads")
    ws.run("Donors")
    assert world.member(normalize_email(lead["Email"]))["merge_fields"]["PHONE"] == "+1 555 0100"


def test_incremental_run_reads_only_changes_and_reset_rematches(world):
    ws = world.ws
    first = ws.run("Donors")
    ws.run("Donors")  # reads back what the first run itself wrote
    quiet = ws.run("Donors")
    assert quiet["stats"]["crm>mc"]["read"] == 0 and quiet["stats"]["mc>crm"]["read"] == 0
    assert quiet["requests"]["zoho"] <= 2 + 4 and quiet["requests"]["mailchimp"] <= 2
    record = next(r for r in world.org().modules["Contacts"].values() if r["Email"] and r["Phone"])
    world.edit(lambda s: s.edit_crm_record("northwind", "Contacts", record["id"], Phone="+1 555 0199"))
    one = ws.run("Donors")
    assert one["stats"]["crm>mc"]["read"] == 1
    full = ws.run("Donors", RunRequest(full=True))
    assert full["stats"]["crm>mc"]["read"] == len(world.org().modules["Contacts"]) > first["stats"]["crm>mc"]["read"]
    assert full["stats"]["crm>mc"]["created"] == 0


def test_a_change_made_while_a_run_runs_is_not_lost(world):
    ws = world.ws
    ws.run("Donors")
    record = next(r for r in world.org().modules["Contacts"].values() if r["Email"] and r["Phone"]
                  and world.member(normalize_email(r["Email"])))
    changed = {"done": False}

    def change_midway(update):
        if update["phase"] == "mc>crm" and not changed["done"]:
            changed["done"] = True
            ws.sandbox.state.edit_crm_record("northwind", "Contacts", record["id"], Phone="+1 555 0142")

    ws.run("Donors", on_progress=change_midway)
    assert changed["done"]
    ws.run("Donors")
    assert world.member(normalize_email(record["Email"]))["merge_fields"]["PHONE"] == "+1 555 0142"
