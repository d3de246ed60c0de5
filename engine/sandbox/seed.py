"""Deterministic demo data with the mess real CRMs and audiences have.

Two subscriber accounts: Harbor Yoga (Free, at its one-profile limit) and Northwind
Nonprofit (Pro, a Contacts and a Leads profile on the same audience).
"""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..clock import iso
from ..rules.identity import invalid_email_reason, member_hash, normalize_email
from ..store.packed import JsonTable
from .state import (ZOHO_ID_BASE, Audience, MailchimpAccount, SandboxAccount, ZohoOrg,
                    digest)

FIRST = ["Jane", "Ola", "José", "Zoë", "Øystein", "Amélie", "Li", "Sven", "Priya", "Kwame", "Nguyễn",
         "Fatima", "Björn", "Chloé", "Mateo", "Aiko", "Olu", "Sara", "Tomás", "Inès", "Ravi", "Anna"]
LAST = ["Doe", "Nordmann", "García", "Müller", "O'Brien", "Smith", "Łukasiewicz", "Tanaka", "Okafor",
        "Dubois", "Rossi", "Andersson", "Kowalski", "Haddad", "Novák", "Silva", "Chen", "Patel", "Đặng"]
DOMAINS = ["acme.org", "northwind.org", "mail.com", "fjord.no", "univ.edu", "bücher.de"]
SOURCES = ["Web Form", "Event", "Referral", "Cold Call"]
TIERS = ["Gold", "Silver", "Bronze", ""]
LEAD_STATUSES = ["Not Contacted", "Contacted", "Pre-Qualified", "Junk Lead"]
OWNERS = [{"name": "Ana Ruiz", "id": "4876876000000000101", "email": "ana@northwind.org"},
          {"name": "Ben Ito", "id": "4876876000000000102", "email": "ben@northwind.org"}]
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

CUSTOM_FIELDS = [
    {"api_name": "Donor_Tier", "field_label": "Donor Tier", "data_type": "picklist", "json_type": "string"},
    {"api_name": "Twitter", "field_label": "Twitter", "data_type": "text", "json_type": "string"},
    {"api_name": "Favourite_Class", "field_label": "Favourite Class", "data_type": "text", "json_type": "string"},
]
MERGE_FIELDS = [("FNAME", "First Name", "text"), ("LNAME", "Last Name", "text"), ("PHONE", "Phone", "phone"),
                ("ADDRESS", "Address", "address"), ("COMPANY", "Company", "text"),
                ("BIRTHDAY", "Birthday", "birthday")]


@dataclass
class Credentials:
    zoho_client_id: str
    zoho_client_secret: str
    zoho_refresh_token: str
    mailchimp_api_key: str

    def as_toml_table(self) -> dict[str, str]:
        return self.__dict__.copy()


@dataclass
class DemoProfile:
    account: str
    name: str
    object_type: str
    audience_id: str
    field_mapping: bool
    delete_converted_leads: bool
    campaigns: list[str]
    views: list[str]
    all_active_campaigns: bool = False
    schedule_minutes: int | None = 15


@dataclass
class DemoAccount:
    id: str
    name: str
    plan: str
    addons: list[str]
    sandbox: SandboxAccount
    credentials: Credentials


class _Maker:
    def __init__(self, rng: random.Random, org: ZohoOrg) -> None:
        self.rng, self.org = rng, org
        self.minute = 0
        self.used_emails: list[str] = []

    def moment(self) -> str:
        self.minute += 1
        return iso(EPOCH + timedelta(minutes=self.minute))

    def email(self, first: str, last: str, n: int) -> str | None:
        rng = self.rng
        roll = {0: 0.0, 1: 0.04, 4: 0.05}.get(n, rng.random())  # small orgs still get each kind of mess
        if roll < 0.03:
            return None  # no email
        if roll < 0.045:
            return rng.choice([f"{first}.{n}@@acme.org", f"{n} {last}@acme.org", f"{first}{n}@acme", f"x{n}@acme.org."])
        if roll < 0.055 and self.used_emails:
            return rng.choice(self.used_emails).upper()  # duplicate differing in case
        local = f"{first}.{last}{n}".lower()
        local = "".join(ch for ch in local if ch.isascii() and (ch.isalnum() or ch in ".'")).replace("'", "")
        address = f"{local}@{'example.com' if rng.random() < 0.02 else rng.choice(DOMAINS)}"
        if rng.random() < 0.05:
            address = f"  {address.capitalize()} "
        self.used_emails.append(address.strip())
        return address

    def person(self, module: str, n: int) -> dict:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = self.moment()
        record = {
            "id": self.org.new_id(), "First_Name": first, "Last_Name": last,
            "Full_Name": f"{first} {last}", "Email": self.email(first, last, n),
            "Phone": f"+1 555 {rng.randrange(10**6):06d}" if rng.random() < 0.7 else None,
            "Owner": rng.choice(OWNERS), "Email_Opt_Out": rng.random() < 0.02,
            "Lead_Source": rng.choice(SOURCES), "Donor_Tier": rng.choice(TIERS) or None,
            "Twitter": f"@{first.lower()}{n}" if rng.random() < 0.2 else None,
            "Created_Time": created, "Modified_Time": created,
        }
        if module == "Leads":
            record.update(Lead_Status=rng.choice(LEAD_STATUSES), Company=f"{last} & Co",
                          Converted__s=False, Converted_Date_Time=None)
        return record


def _credentials(dc: str) -> Credentials:
    return Credentials(
        zoho_client_id=f"1000.{secrets.token_hex(8).upper()}",
        zoho_client_secret=secrets.token_hex(20),
        zoho_refresh_token=f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
        mailchimp_api_key=f"{secrets.token_hex(16)}-{dc}",
    )


def _audience(rng: random.Random, list_id: str, name: str) -> Audience:
    merge = [{"merge_id": i + 1, "tag": tag, "name": label, "type": kind, "required": False,
              "default_value": "", "public": True, "display_order": i + 1, "options": {}, "help_text": "",
              "list_id": list_id} for i, (tag, label, kind) in enumerate(MERGE_FIELDS)]
    return Audience(id=list_id, name=name, members={}, merge_fields=merge, segments={})


def _add_member(audience: Audience, email: str, status: str, first: str, last: str, changed: str,
                rng: random.Random) -> None:
    h = member_hash(email)
    audience.members[h] = {
        "id": h, "email_address": email, "status": status,
        "merge_fields": {"FNAME": first, "LNAME": last, "PHONE": "", "ADDRESS": "",
                         "COMPANY": rng.choice(["", "Fjord AS", "Acme"]), "BIRTHDAY": ""},
        "tags": [], "last_changed": changed, "timestamp_opt": changed,
        "unique_email_id": h[:10], "contact_id": h[10:], "list_id": audience.id,
    }


def _build_account(account_id: str, rng: random.Random, contacts: int, leads: int, audience_size: int,
                   list_id: str, list_name: str, org_index: int) -> tuple[SandboxAccount, Credentials]:
    creds = _credentials("us6")
    org = ZohoOrg(org_id=str(700000 + org_index), client_id=creds.zoho_client_id,
                  client_secret_digest=digest(creds.zoho_client_secret),
                  refresh_token_digest=digest(creds.zoho_refresh_token),
                  modules={"Contacts": {}, "Leads": {}}, campaigns={},
                  views={}, custom_fields={"Contacts": CUSTOM_FIELDS, "Leads": CUSTOM_FIELDS},
                  next_id=ZOHO_ID_BASE + 1_000_000 * org_index + 1000)
    maker = _Maker(rng, org)
    for module, count in (("Contacts", contacts), ("Leads", leads)):
        for n in range(count):
            record = maker.person(module, n)
            org.modules[module][record["id"]] = record

    # converted leads: flagged, hidden from plain GET /Leads, with the Contact they became
    for lead in list(org.modules["Leads"].values()):
        if lead["Email"] and rng.random() < 0.08:
            contact = dict(lead, id=org.new_id())
            for key in ("Lead_Status", "Company", "Converted__s", "Converted_Date_Time"):
                contact.pop(key)
            contact["Created_Time"] = contact["Modified_Time"] = maker.moment()
            org.modules["Contacts"][contact["id"]] = contact
            lead.update(Converted__s=True, Converted_Date_Time=contact["Created_Time"],
                        Modified_Time=contact["Created_Time"], _converted_contact=contact["id"])

    statuses = ["Active", "Active", "Active", "Planning", "Complete"]
    names = ["Spring Gala", "Autumn Appeal", "Volunteer Drive", "Winter Webinar", "Summer Fair 2025"]
    for i, (name, status) in enumerate(zip(names, statuses)):
        campaign_id = str(ZOHO_ID_BASE + 900 + 10 * org_index + i)
        members = {module: [rid for rid in records if rng.random() < 0.2]
                   for module, records in org.modules.items()}
        org.campaigns[campaign_id] = {"id": campaign_id, "Campaign_Name": name, "Status": status,
                                      "Type": "Email", "members": members}
    org.views = {
        "Contacts": [
            {"id": str(ZOHO_ID_BASE + 800 + 10 * org_index), "name": "All Contacts", "system_name": "ALLVIEWS",
             "field": None, "value": None},
            {"id": str(ZOHO_ID_BASE + 801 + 10 * org_index), "name": "Gold donors", "system_name": None,
             "field": "Donor_Tier", "value": "Gold"},
        ],
        "Leads": [
            {"id": str(ZOHO_ID_BASE + 802 + 10 * org_index), "name": "Web form leads", "system_name": None,
             "field": "Lead_Source", "value": "Web Form"},
            {"id": str(ZOHO_ID_BASE + 803 + 10 * org_index), "name": "Converted Leads",
             "system_name": "CONVERTEDVIEWS", "field": "Converted__s", "value": True},
        ],
    }

    audience = _audience(rng, list_id, list_name)
    crm_emails = [r["Email"].strip() for m in org.modules.values() for r in m.values()
                  if r["Email"] and not invalid_email_reason(normalize_email(r["Email"]))
                  and not normalize_email(r["Email"]).endswith(("@example.com", "@test.com"))]
    rng.shuffle(crm_emails)
    matching = crm_emails[: audience_size // 2]
    for n, email in enumerate(matching):
        status = "unsubscribed" if n == 0 else rng.choice(["subscribed"] * 8 + ["unsubscribed", "cleaned"])
        _add_member(audience, email, status, "", "", maker.moment(), rng)
    for n in range(audience_size - len(matching)):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = "".join(ch for ch in f"{first}{n}".lower() if ch.isascii() and ch.isalnum())
        status = (["subscribed", "unsubscribed", "cleaned", "archived"][n] if n < 4 else
                  rng.choice(["subscribed"] * 7 + ["unsubscribed", "cleaned", "archived"]))
        _add_member(audience, f"{local}@{rng.choice(['gmail.com', 'fjord.no', 'acme.org'])}", status,
                    first, "" if rng.random() < 0.2 else last, maker.moment(), rng)
    org.modules = {module: JsonTable(records) for module, records in org.modules.items()}
    audience.members = JsonTable(audience.members)
    mailchimp = MailchimpAccount(dc="us6", api_key_digest=digest(creds.mailchimp_api_key),
                                 audiences={list_id: audience})
    return SandboxAccount(id=account_id, zoho=org, mailchimp=mailchimp, dirty=True), creds


def build_demo(records: int = 2000, seed: int = 7, leads: int | None = None
               ) -> tuple[list[DemoAccount], list[DemoProfile]]:
    """records: the number of Contacts in the large (Northwind) org; leads defaults to 40% of that."""
    rng = random.Random(seed)
    leads = max(20, records * 2 // 5) if leads is None else leads
    northwind, nw_creds = _build_account("northwind", rng, contacts=records, leads=leads,
                                         audience_size=max(20, records // 5), list_id="a1b2c3d4e5",
                                         list_name="Newsletter", org_index=1)
    harbor, hy_creds = _build_account("harbor-yoga", rng, contacts=max(20, min(300, records // 10)), leads=0,
                                      audience_size=max(24, min(120, records // 25)), list_id="f6e5d4c3b2",
                                      list_name="Studio list", org_index=2)
    nw_campaigns = [cid for cid, c in northwind.zoho.campaigns.items() if c["Status"] == "Active"]
    accounts = [
        DemoAccount("harbor-yoga", "Harbor Yoga", "free", [], harbor, hy_creds),
        DemoAccount("northwind", "Northwind Nonprofit", "pro", [], northwind, nw_creds),
    ]
    profiles = [
        DemoProfile("harbor-yoga", "Members", "Contacts", "f6e5d4c3b2", field_mapping=False,
                    delete_converted_leads=False, campaigns=[], views=[]),
        DemoProfile("northwind", "Donors", "Contacts", "a1b2c3d4e5", field_mapping=True,
                    delete_converted_leads=False, campaigns=nw_campaigns[:3],
                    views=[northwind.zoho.views["Contacts"][1]["id"]]),
        DemoProfile("northwind", "Leads", "Leads", "a1b2c3d4e5", field_mapping=False,
                    delete_converted_leads=False, campaigns=[], views=[], all_active_campaigns=True),
    ]
    return accounts, profiles
