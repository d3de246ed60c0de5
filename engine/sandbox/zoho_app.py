"""A fake Zoho CRM v7 (and its OAuth accounts server), per reference/apis.md §1.15."""
from __future__ import annotations

import secrets
from urllib.parse import parse_qsl
from datetime import timedelta
from functools import lru_cache

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..clock import parse_iso
from ..rules.identity import invalid_email_reason, normalize_email
from ..store.packed import JsonTable
from .common import BadBody, changed_rows, decode_token, encode_token, json_body, json_response
from .state import SandboxAccount, SandboxState, ZohoOrg, digest

PEOPLE = ("Contacts", "Leads")
MODULES = PEOPLE + ("Campaigns",)
STANDARD_FIELDS = [
    ("Owner", "Owner", "ownerlookup", "jsonobject"), ("First_Name", "First Name", "text", "string"),
    ("Last_Name", "Last Name", "text", "string"), ("Full_Name", "Full Name", "text", "string"),
    ("Email", "Email", "email", "string"), ("Phone", "Phone", "phone", "string"),
    ("Email_Opt_Out", "Email Opt Out", "boolean", "boolean"), ("Lead_Source", "Lead Source", "picklist", "string"),
    ("Created_Time", "Created Time", "datetime", "string"), ("Modified_Time", "Modified Time", "datetime", "string"),
]
LEAD_FIELDS = [("Lead_Status", "Lead Status", "picklist", "string"), ("Company", "Company", "text", "string"),
               ("Converted__s", "Is Converted", "boolean", "boolean"),
               ("Converted_Date_Time", "Converted Date Time", "datetime", "string")]
MAX_PAGE_RECORDS = 2000
WRITE_LIMIT = 100


def zoho_error(status: int, code: str, message: str, **details: object) -> Response:
    return json_response({"code": code, "details": details, "message": message, "status": "error"}, status)


def item_error(code: str, message: str, **details: object) -> dict:
    return {"code": code, "details": details, "message": message, "status": "error"}


def authenticated(handler):
    """Runs the handler with the caller's account, or answers 401 INVALID_TOKEN."""

    async def wrapper(self: "ZohoFake", request: Request) -> Response:
        account = self.authenticate(request)
        if isinstance(account, Response):
            return account
        return await handler(self, request, account)

    return wrapper


class ZohoFake:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._sorted = lru_cache(maxsize=64)(self._sorted_ids)
        self._by_email: dict[tuple[str, str], dict[str, list[str]]] = {}
        self.issued: list[str] = []

    def forget_cached_queries(self) -> None:
        self._sorted.cache_clear()
        self._by_email.clear()

    def email_index(self, account: SandboxAccount, module: str) -> dict[str, list[str]]:
        """Record ids by normalised email (converted leads included), kept up to date by writes."""
        key = (account.id, module)
        if key not in self._by_email:
            index: dict[str, list[str]] = {}
            for record in account.zoho.modules[module].values():
                if record.get("Email"):
                    index.setdefault(normalize_email(record["Email"]), []).append(record["id"])
            self._by_email[key] = index
        return self._by_email[key]

    def live_by_email(self, account: SandboxAccount, module: str, email: str) -> dict | None:
        """The unconverted record holding an email (what upsert's duplicate check matches)."""
        records = account.zoho.modules[module]
        for record_id in self.email_index(account, module).get(normalize_email(email), []):
            record = records.get(record_id)
            if record and not record.get("Converted__s") and normalize_email(record.get("Email")) == normalize_email(email):
                return record
        return None

    # auth ------------------------------------------------------------------------
    def authenticate(self, request: Request) -> SandboxAccount | Response:
        header = request.headers.get("authorization", "")
        if not header.startswith("Zoho-oauthtoken "):
            return zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
        found = self.state.account_by_access_token(header.removeprefix("Zoho-oauthtoken "))
        if not found:
            return zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
        account, token = found
        token["uses"] += 1
        ttl = self.state.faults.token_ttl_requests
        if parse_iso(token["expires"]) <= self.state.clock() or (ttl and token["uses"] > ttl):
            return zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
        return account

    async def token(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl((await request.body()).decode("latin-1")))
        if params.get("grant_type") != "refresh_token":
            return json_response({"error": "unsupported_grant_type"})
        account = self.state.account_by_refresh_token(params.get("client_id", ""), params.get("client_secret", ""),
                                                      params.get("refresh_token", ""))
        if account is None:
            return json_response({"error": "invalid_code"})  # Zoho answers token errors with HTTP 200
        access = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self.issued.append(access)  # in memory only, so tests can look for leaks
        expires = self.state.clock() + timedelta(seconds=3600)
        account.tokens[digest(access)] = {"expires": expires.isoformat(), "uses": 0}
        return json_response({"access_token": access, "api_domain": str(request.base_url).rstrip("/").replace(
            "accounts.zoho", "www.zohoapis"), "token_type": "Bearer", "expires_in": 3600})

    # reads -----------------------------------------------------------------------
    def _rows(self, org: ZohoOrg, module: str) -> dict[str, dict]:
        if module == "Campaigns":
            return {cid: {k: v for k, v in c.items() if k != "members"} for cid, c in org.campaigns.items()}
        return org.modules[module]

    def _sorted_ids(self, account_id: str, version: int, module: str, scope: tuple) -> tuple[str, ...]:
        """Ids matching a query, in order; cached per data version so paging stays O(page)."""
        org = self.state.accounts[account_id].zoho
        converted, since, sort_by, sort_order, cvid, ids, campaign = scope
        rows = self._rows(org, module)
        wanted = rows.keys()
        if campaign is not None:
            wanted = [rid for rid in org.campaigns[campaign]["members"].get(module, []) if rid in rows]
        if ids is not None:
            wanted = [rid for rid in ids if rid in rows]
        if campaign is None and ids is None and isinstance(rows, JsonTable):
            chosen = changed_rows(rows, "Modified_Time", since)
        else:
            chosen = ((rid, rows[rid]) for rid in wanted)
        view = next((v for v in org.views.get(module, []) if v["id"] == cvid), None) if cvid else None
        keyed = []  # (sort key, id): rows are decoded one at a time, never all at once
        for rid, row in chosen:
            is_converted = bool(row.get("Converted__s"))
            if module == "Leads" and ((converted == "false" and is_converted) or (converted == "true" and not is_converted)):
                continue
            if since and parse_iso(row.get("Modified_Time", row.get("Created_Time", since))) <= since:
                continue
            if view and view["field"] and row.get(view["field"]) != view["value"]:
                continue
            if sort_by == "id":
                keyed.append((int(rid), rid))
            else:
                keyed.append((row.get(sort_by, ""), int(rid), rid))
        keyed.sort(reverse=sort_order == "desc")
        return tuple(item[-1] for item in keyed)

    def _page(self, request: Request, account: SandboxAccount, module: str, campaign: str | None = None) -> Response:
        q = request.query_params
        fields = [f for f in q.get("fields", "").split(",") if f]
        if not fields:
            return zoho_error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                              param_name="fields")
        if len(fields) > 50:
            return zoho_error(400, "LIMIT_EXCEEDED", "fields limit exceeded", limit=50)
        try:
            per_page = int(q.get("per_page", 200))
            page = int(q.get("page", 1))
        except ValueError:
            return zoho_error(400, "INVALID_DATA", "invalid data", param_name="page")
        if not 1 <= per_page <= 200:
            return zoho_error(400, "INVALID_DATA", "per_page must be 1-200", param_name="per_page")
        sort_by, sort_order = q.get("sort_by", "id"), q.get("sort_order", "desc")
        cvid = q.get("cvid")
        if cvid and "sort_by" in q:
            return zoho_error(400, "AMBIGUITY_DURING_PROCESSING", "cvid cannot be combined with sort_by")
        if sort_by not in ("id", "Created_Time", "Modified_Time") or sort_order not in ("asc", "desc"):
            return zoho_error(400, "INVALID_DATA", "invalid sort", param_name="sort_by")
        since_header = request.headers.get("if-modified-since")
        try:
            since = parse_iso(since_header) if since_header else None
        except ValueError:
            return zoho_error(400, "INVALID_DATA", "If-Modified-Since is not ISO-8601")
        ids = tuple(q["ids"].split(",")) if q.get("ids") else None
        scope = (q.get("converted", "false"), since, sort_by, sort_order, cvid, ids, campaign)
        bound = digest(repr((module, scope, per_page, fields)))[:16]
        if "page_token" in q:
            if "page" in q:
                return zoho_error(400, "AMBIGUITY_DURING_PROCESSING", "page and page_token cannot be combined")
            token = decode_token(q["page_token"])
            if not token:
                return zoho_error(400, "INVALID_DATA", "invalid page_token", param_name="page_token")
            if token.get("bound") != bound:
                return zoho_error(400, "TOKEN_BOUND_DATA_MISMATCH", "page_token does not match the parameters")
            offset = token["offset"]
        else:
            if page * per_page > MAX_PAGE_RECORDS:
                return zoho_error(400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                                  "use page_token to fetch more than 2000 records")
            offset = (page - 1) * per_page
        org = account.zoho
        ordered = self._sorted(account.id, org.version, module, scope)
        if offset >= 100_000:
            return zoho_error(400, "PAGINATION_LIMIT_EXCEEDED", "cannot fetch more than 100000 records")
        chunk = ordered[offset: offset + per_page]
        if not chunk:
            return Response(status_code=304 if since and not ordered else 204)
        rows = self._rows(org, module)
        wanted = set(fields) | {"id"}
        data = [{k: v for k, v in rows[rid].items() if k in wanted} for rid in chunk]
        more = offset + per_page < len(ordered)
        info = {"per_page": per_page, "count": len(data), "page": offset // per_page + 1, "sort_by": sort_by,
                "sort_order": sort_order, "more_records": more,
                "next_page_token": encode_token({"offset": offset + per_page, "bound": bound}) if more else None,
                "previous_page_token": None, "page_token_expiry": None}
        return json_response({"data": data, "info": info})

    @authenticated
    async def list_records(self, request: Request, account: SandboxAccount) -> Response:
        module = request.path_params["module"]
        if module not in MODULES:
            return zoho_error(400, "INVALID_MODULE", "the module name given seems to be invalid")
        return self._page(request, account, module)

    @authenticated
    async def campaign_members(self, request: Request, account: SandboxAccount) -> Response:
        campaign, module = request.path_params["campaign"], request.path_params["module"]
        if campaign not in account.zoho.campaigns or module not in PEOPLE:
            return zoho_error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one")
        return self._page(request, account, module, campaign=campaign)

    @authenticated
    async def search(self, request: Request, account: SandboxAccount) -> Response:
        module = request.path_params["module"]
        email = normalize_email(request.query_params.get("email"))
        if module not in PEOPLE or not email:
            return zoho_error(400, "REQUIRED_PARAM_MISSING", "email is required", param_name="email")
        records = account.zoho.modules[module]
        found = [dict(r, **{"$converted": bool(r.get("Converted__s"))})
                 for r in (records.get(rid) for rid in self.email_index(account, module).get(email, []))
                 if r and normalize_email(r.get("Email")) == email]
        if not found:
            return Response(status_code=204)
        return json_response({"data": found[:200], "info": {"count": len(found), "more_records": False}})

    @authenticated
    async def fields(self, request: Request, account: SandboxAccount) -> Response:
        module = request.query_params.get("module")
        if module not in PEOPLE:
            return zoho_error(400, "REQUIRED_PARAM_MISSING", "module is required", param_name="module")
        standard = STANDARD_FIELDS + (LEAD_FIELDS if module == "Leads" else [])
        out = [{"api_name": a, "field_label": label, "display_label": label, "data_type": dt, "json_type": jt,
                "custom_field": False, "system_mandatory": a == "Last_Name", "read_only": a.endswith("_Time")}
               for a, label, dt, jt in standard]
        out += [dict(f, display_label=f["field_label"], custom_field=True, system_mandatory=False, read_only=False)
                for f in account.zoho.custom_fields.get(module, [])]
        return json_response({"fields": out})

    @authenticated
    async def custom_views(self, request: Request, account: SandboxAccount) -> Response:
        module = request.query_params.get("module")
        if not module:
            return zoho_error(400, "REQUIRED_PARAM_MISSING", "module is required", param_name="module")
        views = [{"id": v["id"], "name": v["name"], "display_value": v["name"], "system_name": v["system_name"],
                  "system_defined": v["system_name"] is not None, "category": "public_views", "default": False}
                 for v in account.zoho.views.get(module, [])]
        return json_response({"custom_views": views, "info": {"count": len(views), "more_records": False}})

    @authenticated
    async def deleted(self, request: Request, account: SandboxAccount) -> Response:
        items = account.zoho.deleted.get(request.path_params["module"], [])
        if not items:
            return Response(status_code=204)
        return json_response({"data": items[:200], "info": {"count": len(items[:200]), "more_records": False}})

    # writes ----------------------------------------------------------------------
    def _validate(self, module: str, item: dict, existing: dict | None) -> dict | None:
        if not isinstance(item, dict):
            return item_error("INVALID_DATA", "invalid data", expected_data_type="jsonobject")
        for name, value in item.items():
            if name == "Email_Opt_Out" and not isinstance(value, bool):
                return item_error("INVALID_DATA", "invalid data", api_name=name, expected_data_type="boolean")
            if name in ("First_Name", "Last_Name", "Email", "Phone") and value is not None and not isinstance(value, str):
                return item_error("INVALID_DATA", "invalid data", api_name=name, expected_data_type="string")
        if existing is None and not (item.get("Last_Name") or "").strip():
            return item_error("MANDATORY_NOT_FOUND", "required field not found", api_name="Last_Name",
                              json_path="$.data[0].Last_Name")
        email = item.get("Email")
        if email and invalid_email_reason(normalize_email(email)):
            return item_error("INVALID_DATA", "invalid data", api_name="Email", expected_data_type="email")
        if len(item.get("Last_Name") or "") > 80:
            return item_error("INVALID_DATA", "invalid data", api_name="Last_Name", maximum_length=80)
        if existing and existing.get("Converted__s"):
            return item_error("CONVERTED_RECORD", "can't update the converted record")
        return None

    @authenticated
    async def upsert(self, request: Request, account: SandboxAccount) -> Response:
        module = request.path_params["module"]
        if module not in PEOPLE:
            return zoho_error(400, "INVALID_MODULE", "the module name given seems to be invalid")
        try:
            body = await json_body(request)
        except BadBody as exc:
            return zoho_error(400, "INVALID_DATA", str(exc))
        items = body.get("data")
        if not isinstance(items, list) or not items:
            return zoho_error(400, "INVALID_DATA", "data must be a non-empty array")
        if len(items) > WRITE_LIMIT:
            return zoho_error(400, "LIMIT_EXCEEDED", "you can upsert at most 100 records per call", limit=100)
        org = account.zoho
        records = org.modules[module]
        by_email = self.email_index(account, module)
        now = self.state.now()
        results = []
        for item in items:
            existing = records.get(str(item.get("id"))) if isinstance(item, dict) and item.get("id") else None
            if existing is None and isinstance(item, dict) and isinstance(item.get("Email"), str):
                existing = self.live_by_email(account, module, item["Email"])
            error = self._validate(module, item, existing)
            if error:
                results.append(error)
                continue
            values = {k: v for k, v in item.items() if k != "id"}
            if existing:
                existing.update(values)
                existing["Full_Name"] = f"{existing.get('First_Name') or ''} {existing.get('Last_Name') or ''}".strip()
                org.save_record(module, existing, now)
                results.append(self._success(existing, "update", "record updated", "Email"))
            else:
                record = {"id": org.new_id(), "Created_Time": now, "Email_Opt_Out": False,
                          "Owner": {"name": "API", "id": "4876876000000000100", "email": "api@sandbox"}} | values
                record["Full_Name"] = f"{record.get('First_Name') or ''} {record['Last_Name']}".strip()
                if module == "Leads":
                    record.setdefault("Converted__s", False)
                org.save_record(module, record, now)
                if record.get("Email"):
                    by_email.setdefault(normalize_email(record["Email"]), []).append(record["id"])
                results.append(self._success(record, "insert", "record added", None))
        account.dirty = True
        ok = sum(r["status"] == "success" for r in results)
        status = 200 if ok == len(results) else (207 if ok else 400)
        return json_response({"data": results}, status)

    @staticmethod
    def _success(record: dict, action: str, message: str, duplicate_field: str | None) -> dict:
        return {"code": "SUCCESS", "duplicate_field": duplicate_field, "action": action, "message": message,
                "status": "success", "details": {"id": record["id"], "Modified_Time": record["Modified_Time"],
                                                 "Created_Time": record["Created_Time"]}}

    @authenticated
    async def convert(self, request: Request, account: SandboxAccount) -> Response:
        org = account.zoho
        lead = org.modules["Leads"].get(request.path_params["id"])
        if lead is None:
            return zoho_error(400, "INVALID_DATA", "the id given seems to be invalid")
        if lead.get("Converted__s"):
            return zoho_error(400, "ID_ALREADY_CONVERTED", "id already converted")
        contact = convert_lead(self.state, account, lead, self)
        return json_response({"data": [{"code": "SUCCESS", "status": "success",
                                        "message": "The record has been converted successfully",
                                        "details": {"Contacts": {"name": contact["Full_Name"], "id": contact["id"]}}}]})

    def routes(self) -> list[Route]:
        return [
            Route("/crm/v7/settings/fields", self.fields),
            Route("/crm/v7/settings/custom_views", self.custom_views),
            Route("/crm/v7/Campaigns/{campaign}/{module}", self.campaign_members),
            Route("/crm/v7/Leads/{id}/actions/convert", self.convert, methods=["POST"]),
            Route("/crm/v7/{module}/search", self.search),
            Route("/crm/v7/{module}/deleted", self.deleted),
            Route("/crm/v7/{module}/upsert", self.upsert, methods=["POST"]),
            Route("/crm/v7/{module}", self.list_records),
        ]


def convert_lead(state: SandboxState, account: SandboxAccount, lead: dict, fake: "ZohoFake") -> dict:
    """Zoho's lead conversion: the lead stays, flagged; a Contact with its email exists afterwards."""
    org = account.zoho
    now = state.now()
    email = normalize_email(lead.get("Email"))
    contact = fake.live_by_email(account, "Contacts", email) if email else None
    if contact is None:
        contact = {k: v for k, v in lead.items() if k not in ("Lead_Status", "Company", "Converted__s",
                                                              "Converted_Date_Time", "_converted_contact")}
        contact.update(id=org.new_id(), Created_Time=now)
        org.save_record("Contacts", contact, now)
    lead.update(Converted__s=True, Converted_Date_Time=now, _converted_contact=contact["id"])
    org.save_record("Leads", lead, now)
    fake.forget_cached_queries()
    account.dirty = True
    return contact


def zoho_apps(state: SandboxState) -> tuple[Starlette, Starlette, ZohoFake]:
    fake = ZohoFake(state)
    api = Starlette(routes=fake.routes())
    accounts = Starlette(routes=[Route("/oauth/v2/token", fake.token, methods=["POST"])])
    return api, accounts, fake
