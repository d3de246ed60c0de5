"""Secrets never reach the store, outputs or screens; every mutating action is audited with who and where."""
import asyncio
import json

from click.testing import CliRunner

from console.cli import main
from engine.config import load_credentials
from engine.sync.run import RunRequest

from .conftest import settle


def all_secrets(ws) -> list[str]:
    out = []
    for account in ws.accounts().values():
        zoho, key = load_credentials(ws.layout, account)
        out += [zoho.client_secret, zoho.refresh_token, zoho.client_id, key]
    return out + list(ws.sandbox.zoho.issued)


def test_no_secret_in_store_outputs_or_screens(demo, make_console, monkeypatch):
    for profile in demo.profiles():
        demo.run(profile.id)
    demo.run("Leads", RunRequest(full=True, dry_run=True))
    secrets = all_secrets(demo)
    assert len(secrets) >= 10  # 4 per account, plus the access tokens handed out during the runs
    texts = [p.read_text(errors="replace") for p in demo.layout.store.rglob("*") if p.is_file()]
    texts += [(demo.layout.root / "accounts.toml").read_text()]
    runner = CliRunner()
    for args in (["profiles", "--json"], ["runs", "Donors", "--json"], ["audit", "--json"], ["profiles"],
                 ["skipped", "Donors"], ["unmapped", "Donors"], ["run", "Members", "--json"]):
        texts.append(runner.invoke(main, ["--data-dir", str(demo.layout.root), *args]).output)
    app = make_console()

    async def screens() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            texts.append(app.export_screenshot())
            app.open_profile(2)
            await settle(pilot)
            for tab in ("tab-last", "tab-skipped", "tab-unmapped", "tab-runs", "tab-errors"):
                app.screen.query_one("#tabs").active = tab
                await settle(pilot)
                texts.append(app.export_screenshot())

    asyncio.run(screens())
    for secret in secrets:
        assert not any(secret in text for text in texts), "a secret leaked"


def test_refused_credentials_are_reported_without_the_secret(demo, monkeypatch):
    monkeypatch.setenv("SYNCOPS_NORTHWIND_MAILCHIMP_API_KEY", "deadbeefcafe0000-us6")
    result = CliRunner().invoke(main, ["--data-dir", str(demo.layout.root), "run", "Donors", "--json"])
    run = json.loads(result.output)
    assert result.exit_code == 1 and "API Key Invalid" in run["error"]["message"]
    assert "deadbeefcafe0000" not in result.output


def test_credentials_files_must_be_private(demo):
    demo.layout.sandbox_credentials.chmod(0o644)
    result = CliRunner().invoke(main, ["--data-dir", str(demo.layout.root), "run", "Donors"])
    assert result.exit_code == 2 and "chmod 600" in result.output


def test_every_mutating_action_is_audited_with_who_and_where(demo, monkeypatch):
    monkeypatch.setenv("SSH_CLIENT", "203.0.113.9 50122 22")
    runner = CliRunner()
    root = str(demo.layout.root)
    runner.invoke(main, ["--data-dir", root, "run", "Leads"])
    runner.invoke(main, ["--data-dir", root, "run", "Leads", "--full"])
    runner.invoke(main, ["--data-dir", root, "set", "Leads", "delete-converted-leads", "on"])
    email = next(e["email"] for e in demo.run_events(demo.runs.for_profile(3)[0]["run_id"], "unchanged")
                 if e.get("email"))
    runner.invoke(main, ["--data-dir", root, "run", "Leads", "--record", email])
    entries = [e for e in demo.audit.all() if e["profile"] == "northwind/Leads → Newsletter"
               and e["action"] != "profile.add"]  # the sandbox reset created the profile
    actions = [(e["action"], e["details"].get("full"), e["details"].get("record"), e["details"].get("to"))
               for e in entries]
    assert ("run.start", False, None, None) in actions and ("run.start", True, None, None) in actions
    assert ("option.set", None, None, True) in actions and ("run.start", False, email, None) in actions
    assert all("(ssh 203.0.113.9)" in e["actor"] and "@" in e["actor"] and e["ts"] for e in entries)
