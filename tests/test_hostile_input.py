"""A corpus of bad input, each with its expected outcome, through the sandbox, the CLI and the console."""
import asyncio

import pytest

from engine.rules.identity import member_hash

from .conftest import HARBOR_LIST, settle

CONTROL = ("\x1b", "\x07", "\x00", "\u202e", "\x9b")
CORPUS = [
    # (label, fields, expected action, expected reason)
    ("spaces and case", {"Email": "  Mixed.Case@Acme.ORG  "}, "created", None),
    ("unicode local part", {"Email": "josé@acme.org"}, "skipped", "invalid_email"),
    ("IDN domain", {"Email": "ok.idn@bücher.de"}, "created", None),
    ("trailing dot", {"Email": "trailing@acme.org."}, "skipped", "invalid_email"),
    ("double @", {"Email": "double@@acme.org"}, "skipped", "invalid_email"),
    ("300-character local part", {"Email": "a" * 300 + "@acme.org"}, "skipped", "invalid_email"),
    ("email of the wrong type", {"Email": 12345}, "skipped", "invalid_email"),
    ("rich markup", {"Email": "markup@acme.org", "First_Name": "[bold red]x[/] [link=https://evil]y[/link]"},
     "created", None),
    ("ANSI and OSC 52", {"Email": "ansi@acme.org", "First_Name": "\x1b[31mred\x1b[0m\x1b]52;c;ZXZpbA==\x07"},
     "created", None),
    ("right-to-left override", {"Email": "rtl@acme.org", "First_Name": "\u202eevil"}, "created", None),
    ("NUL byte", {"Email": "nul@acme.org", "First_Name": "a\x00b"}, "created", None),
    ("10,000-character name", {"Email": "long@acme.org", "First_Name": "N" * 10_000}, "created", None),
    ("name of the wrong type", {"Email": "listname@acme.org", "First_Name": ["x"], "Phone": {"n": 1}},
     "created", None),
    ("nothing optional", {"Email": "bare@acme.org", "First_Name": None, "Phone": None, "Owner": None,
                          "Lead_Source": None, "Donor_Tier": None, "Twitter": None}, "created", None),
]


@pytest.fixture
def planted(demo):
    ids = {}
    with demo.sandbox.session() as box:
        org = box.state.accounts["harbor-yoga"].zoho
        for n, (label, fields, *_) in enumerate(CORPUS):
            record = {"id": org.new_id(), "Last_Name": f"Hostile{n}", "Created_Time": box.state.now(),
                      "Email_Opt_Out": False, "Owner": {"name": "Ana", "id": "1", "email": "a@x"}} | fields
            org.save_record("Contacts", record, box.state.now())
            ids[label] = record["id"]
        box.state.accounts["harbor-yoga"].dirty = True
    return demo, ids


def test_every_bad_record_gets_its_outcome_and_nothing_else_is_lost(planted, tmp_path):
    from engine.workspace import Workspace

    from .conftest import FAST_RETRIES

    ws, ids = planted
    clean = Workspace(tmp_path / "clean", retry_policy=FAST_RETRIES)
    clean.reset_sandbox(records=300, seed=7)
    clean_run = clean.run("Members")
    run = ws.run("Members")
    assert run["status"] in ("succeeded", "partial")
    events = {e["crm_id"]: e for e in ws.run_events(run["run_id"]) if e["dir"] == "crm>mc" and e.get("crm_id")
              and e["action"] in ("created", "updated", "unchanged", "skipped", "failed")}
    for label, fields, action, reason in CORPUS:
        event = events[ids[label]]
        assert (event["action"], event.get("reason")) == (action, reason), label
    members = ws.sandbox.state.load().accounts["harbor-yoga"].mailchimp.audiences[HARBOR_LIST].members
    assert members[member_hash("mixed.case@acme.org")]["email_address"] == "Mixed.Case@Acme.ORG"
    assert members[member_hash("long@acme.org")]["merge_fields"]["FNAME"] == "N" * 10_000
    stats = run["stats"]["crm>mc"]
    assert stats["read"] == sum(stats[k] for k in ("created", "updated", "unchanged", "skipped", "failed"))
    planted_created = sum(1 for *_, action, _ in CORPUS if action == "created")
    assert stats["created"] == clean_run["stats"]["crm>mc"]["created"] + planted_created  # nothing else lost
    assert stats["skipped"] == clean_run["stats"]["crm>mc"]["skipped"] + len(CORPUS) - planted_created


def test_the_cli_prints_hostile_text_inertly(planted):
    from click.testing import CliRunner

    from console.cli import main

    ws, ids = planted
    ws.run("Members")
    for label in ("ANSI and OSC 52", "right-to-left override", "NUL byte", "rich markup"):
        result = CliRunner().invoke(main, ["--data-dir", str(ws.layout.root), "history", ids[label]])
        assert result.exit_code == 0 and not any(c in result.output for c in CONTROL), label


def test_the_console_shows_hostile_names_literally(planted, make_console):
    ws, ids = planted
    ws.run("Members")
    from console.app import make_app

    from .conftest import fixed_clock

    app = make_app(ws, clock=fixed_clock, poll_interval=None, runs_in_process=True)
    app.animation_level = "none"

    async def look() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            for label in ("rich markup", "ANSI and OSC 52", "right-to-left override", "NUL byte"):
                app.open_record(ids[label])
                await settle(pilot)
                table = app.screen.query_one("#timeline")
                shown = " ".join(str(cell) for key in table.rows for cell in table.get_row(key))
                shown += str(app.screen.query_one("#now").render())
                assert not any(c in shown for c in CONTROL), label
                if label == "rich markup":
                    assert "[bold red]x[/]" in shown
                svg = app.export_screenshot()
                assert not any(c in svg for c in CONTROL)
                app.pop_screen()
                await settle(pilot)

    asyncio.run(look())
