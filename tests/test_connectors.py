"""The real httpx clients against the fakes: paging limits, OAuth refresh, retries, per-item errors."""
import asyncio

import httpx
import pytest

from engine.config import load_credentials
from engine.connectors.http import ApiError, AuthError
from engine.connectors.mailchimp import MailchimpClient, datacenter
from engine.connectors.zoho import ZohoClient

from .conftest import FAST_RETRIES, NORTHWIND_LIST


def _clients(ws, transport=None):
    zoho_creds, key = load_credentials(ws.layout, ws.account("northwind"))
    transport = transport or ws.sandbox.transport()
    return (ZohoClient(zoho_creds, transport=transport, policy=FAST_RETRIES),
            MailchimpClient(key, transport=transport, policy=FAST_RETRIES))


@pytest.fixture
def big(ws):
    ws.reset_sandbox(records=2600)
    return ws


def test_zoho_pages_past_2000_with_page_token(big):
    zoho, _ = _clients(big)

    async def read():
        ids = []
        async for page in zoho.records("Contacts", ["Email"]):
            ids += [r["id"] for r in page]
        await zoho.aclose()
        return ids

    ids = asyncio.run(read())
    total = len(big.sandbox.state.accounts["northwind"].zoho.modules["Contacts"])
    assert len(ids) == len(set(ids)) == total > 2000
    assert zoho.http.requests == -(-total // 200)


def test_zoho_refreshes_an_expired_token_once_and_carries_on(demo):
    with demo.sandbox.session() as box:
        box.state.faults.token_ttl_requests = 2
    run = demo.run("Donors")
    assert run["status"] != "failed" and run["requests"]["token_refreshes"] > 1


def test_bad_refresh_token_fails_the_run_with_a_clear_message(demo, monkeypatch):
    monkeypatch.setenv("SYNCOPS_NORTHWIND_ZOHO_REFRESH_TOKEN", "1000.bogus")
    run = demo.run("Donors")
    assert run["status"] == "failed"
    assert "refresh refused (invalid_code)" in run["error"]["message"] and "bogus" not in str(run)


def test_throttling_and_server_errors_are_retried_to_the_same_end_state(tmp_path):
    from engine.workspace import Workspace

    def final_state(folder, faults):
        ws = Workspace(tmp_path / folder, retry_policy=FAST_RETRIES)
        ws.reset_sandbox(records=300)
        with ws.sandbox.session() as box:
            for name, value in faults.items():
                setattr(box.state.faults, name, value)
        for _ in range(2):
            for profile in ws.profiles():
                ws.run(profile.id)
        state = ws.sandbox.state.load()
        members = {h: (m["status"], sorted(m["tags"])) for a in state.accounts.values()
                   for aud in a.mailchimp.audiences.values() for h, m in aud.members.items()}
        crm = sorted((r.get("Email") or "", r.get("Email_Opt_Out"), r.get("Last_Name"))
                     for a in state.accounts.values() for mod in a.zoho.modules.values() for r in mod.values())
        return members, crm, ws

    clean_members, clean_crm, _ = final_state("clean", {})
    faulty_members, faulty_crm, faulty = final_state("faulty", {"rate_429": 0.1, "rate_5xx": 0.05,
                                                                 "retry_after_s": 0.01})
    injected = faulty.sandbox.injected_faults()
    assert injected["429"] > 0 and injected["5xx"] > 0
    assert faulty_members == clean_members and faulty_crm == clean_crm


def test_mailchimp_datacentre_comes_from_the_key():
    assert datacenter("0123abcd-us6") == "us6"
    with pytest.raises(ValueError):
        datacenter("no-datacentre-")


@pytest.mark.parametrize("body", ["<html><body>Bad gateway</body></html>", '{"lists": [{"id": "a1", "na'])
def test_html_or_truncated_json_is_a_clear_error_not_a_crash(body):
    calls = []

    def broken(request):
        calls.append(request)
        return httpx.Response(200, text=body)

    client = MailchimpClient("k-us6", transport=httpx.MockTransport(broken), policy=FAST_RETRIES)
    with pytest.raises(ApiError, match="not JSON"):
        asyncio.run(client.audiences())
    assert len(calls) == 1  # a 200 with a broken body is not retried blindly


def test_wrong_api_key_is_an_auth_error(demo):
    client = MailchimpClient("deadbeef-us6", transport=demo.sandbox.transport(), policy=FAST_RETRIES)
    with pytest.raises(AuthError, match="API Key Invalid"):
        asyncio.run(client.audiences())


def test_batch_subscribe_reports_per_email_errors_inside_a_200(demo):
    _, mailchimp = _clients(demo)
    answer = asyncio.run(mailchimp.batch_subscribe(NORTHWIND_LIST, [
        {"email_address": "ok.person@fjord.no", "status_if_new": "subscribed"},
        {"email_address": "fake@example.com", "status_if_new": "subscribed"}], update_existing=False))
    assert answer["total_created"] == 1 and answer["errors"][0]["email_address"] == "fake@example.com"
    assert "looks fake or invalid" in answer["errors"][0]["error"]
