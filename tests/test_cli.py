"""The headless CLI as an operator uses it: JSON output, exit codes, clear errors."""
import json

import pytest
from click.testing import CliRunner
from filelock import FileLock

from console.cli import main


@pytest.fixture
def cli(tmp_path):
    data = tmp_path / "data"
    runner = CliRunner()

    def call(*args):
        return runner.invoke(main, ["--data-dir", str(data), *args], catch_exceptions=False)

    assert call("sandbox", "reset", "--records", "300").exit_code == 0
    return call


def test_profiles_json_lists_accounts_plans_and_profiles(cli):
    result = cli("profiles", "--json")
    data = json.loads(result.output)
    assert {a["account"]["id"] for a in data} == {"harbor-yoga", "northwind"}
    harbor = next(a for a in data if a["account"]["id"] == "harbor-yoga")
    assert harbor["profiles_used"] == harbor["profiles_allowed"] == 1


def test_run_prints_stats_that_reconcile_per_direction(cli):
    result = cli("run", "Donors", "--json")
    assert result.exit_code == 0
    run = json.loads(result.output)
    for stats in run["stats"].values():
        assert stats["read"] == sum(stats[k] for k in ("created", "updated", "unchanged", "skipped", "failed"))
    created = json.loads(cli("records", run["run_id"], "--outcome", "created", "--json").output)
    assert len(created) == sum(s["created"] for s in run["stats"].values())


def test_history_explains_a_no_email_record_and_a_member_created_in_crm(cli):
    run = json.loads(cli("run", "Members", "--json").output)
    skipped = json.loads(cli("skipped", "Members", "--reason", "no_email", "--json").output)
    result = cli("history", skipped[0]["crm_id"])
    assert "Not synced: the CRM record has no email address" in " ".join(result.output.split())
    created = [e for e in json.loads(cli("records", run["run_id"], "--outcome", "created", "--json").output)
               if e["dir"] == "mc>crm"]
    history = json.loads(cli("history", created[0]["email"], "--json").output)
    assert history[0]["action"] == "created" and history[0]["target"] == "crm"


def test_history_of_a_converted_lead_before_and_after_the_option(cli, tmp_path):
    cli("run", "Leads")
    from engine.workspace import Workspace

    ws = Workspace(tmp_path / "data")
    org = ws.sandbox.state.load().accounts["northwind"].zoho
    skipped = {r["crm_id"] for r in ws.skipped("Leads")}
    lead = next(r for r in org.modules["Leads"].values() if r["Converted__s"] and r["Email"] and r["id"] not in skipped)
    before = json.loads(cli("history", lead["id"], "--json").output)
    assert before and all(e.get("reason") != "converted_lead" for e in before)
    assert cli("set", "Leads", "delete-converted-leads", "on").exit_code == 0
    cli("run", "Leads", "--full")
    after = cli("history", lead["id"])
    assert f"Converted: Lead …{lead['id'][-4:]} became Contact" in " ".join(after.output.split())


def test_run_exit_codes(cli, tmp_path):
    from engine.workspace import Workspace

    profile = Workspace(tmp_path / "data").profile("Donors")
    with FileLock(tmp_path / "data" / "locks" / f"run-{profile.id}.lock"):
        result = cli("run", "Donors")
    assert result.exit_code == 3 and "already running" in result.output
    assert cli("run", "no-such-profile").exit_code == 2


def test_malformed_config_is_a_clear_error_not_a_traceback(cli, tmp_path):
    (tmp_path / "data" / "accounts.toml").write_text("[accounts.x\nplan = ")
    result = cli("profiles")
    assert result.exit_code == 2 and "accounts.toml is not valid TOML" in result.output
    assert "Traceback" not in result.output


def test_dry_run_changes_nothing(cli, tmp_path):
    from engine.workspace import Workspace

    ws = Workspace(tmp_path / "data")
    before = dict(ws.sandbox.state.load().accounts["northwind"].mailchimp.audiences["a1b2c3d4e5"].members)
    run = json.loads(cli("run", "Donors", "--dry-run", "--json").output)
    assert run["dry_run"] and run["stats"]["crm>mc"]["created"] > 0
    after = ws.sandbox.state.load().accounts["northwind"].mailchimp.audiences["a1b2c3d4e5"].members
    assert dict(after) == before  # not one member added or changed
    assert json.loads(cli("profiles", "--json").output)[1]["profiles"][0]["last_run"] is None


def test_scheduler_once_runs_due_profiles(cli):
    result = cli("scheduler", "--once")
    assert result.output.count("succeeded") + result.output.count("partial") == 3
