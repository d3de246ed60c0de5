"""A fake Mailchimp Marketing API v3, per reference/apis.md §2.10."""
from __future__ import annotations

import base64
from functools import lru_cache

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..clock import parse_iso
from ..rules.identity import invalid_email_reason, member_hash, normalize_email
from .common import BadBody, changed_rows, json_body, json_response
from .state import Audience, SandboxAccount, SandboxState

ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
MAX_CONNECTIONS = 10


def problem(status: int, title: str, detail: str, **extra: object) -> Response:
    body = {"type": ERRORS_DOC, "title": title, "status": status, "detail": detail,
            "instance": "00000000-0000-0000-0000-000000000000"} | extra
    return json_response(body, status, media_type="application/problem+json")


def not_found() -> Response:
    return problem(404, "Resource Not Found", "The requested resource could not be found.")


class MailchimpFake:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._ordered = lru_cache(maxsize=32)(self._ordered_hashes)

    def forget_cached_queries(self) -> None:
        self._ordered.cache_clear()

    def authenticate(self, request: Request) -> SandboxAccount | Response:
        header = request.headers.get("authorization", "")
        key = ""
        if header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:]).decode().partition(":")[2]
            except ValueError:
                key = ""
        elif header.startswith("Bearer "):
            key = header[7:]
        dc = request.headers.get("host", "").split(".")[0]
        account = self.state.account_by_api_key(key) if key else None
        if account is None or not key.endswith(f"-{dc}") or account.mailchimp.dc != dc:
            return problem(401, "API Key Invalid",
                           "Your API key may be invalid, or you've attempted to access the wrong datacenter.")
        return account

    def audience_of(self, request: Request) -> tuple[SandboxAccount, Audience] | Response:
        account = self.authenticate(request)
        if isinstance(account, Response):
            return account
        audience = self.state.audience(account, request.path_params["list_id"])
        return (account, audience) if audience else not_found()

    # members: read -----------------------------------------------------------------
    def _ordered_hashes(self, account_id: str, list_id: str, version: int, status: str | None,
                        since: str | None, sort_dir: str) -> tuple[str, ...]:
        audience = self.state.accounts[account_id].mailchimp.audiences[list_id]
        since_at = parse_iso(since) if since else None
        keyed = []  # (last_changed, hash): members are decoded one at a time
        for _, member in changed_rows(audience.members, "last_changed", since_at, inclusive=True):
            if ((member["status"] == status if status else member["status"] != "archived")
                    and (since_at is None or parse_iso(member["last_changed"]) >= since_at)):
                keyed.append((member["last_changed"], member["id"]))
        keyed.sort(reverse=sort_dir == "DESC")
        return tuple(h for _, h in keyed)

    async def members(self, request: Request) -> Response:
        found = self.audience_of(request)
        if isinstance(found, Response):
            return found
        account, audience = found
        q = request.query_params
        try:
            count, offset = int(q.get("count", 10)), int(q.get("offset", 0))
        except ValueError:
            return problem(400, "Invalid Resource", "count and offset must be integers")
        if count > 1000:
            return problem(400, "Invalid Resource", "count must be at most 1000")
        status = q.get("status")
        if status and status not in STATUSES:
            return problem(400, "Invalid Resource", f"status must be one of {', '.join(STATUSES)}")
        since = q.get("since_last_changed")
        try:
            if since:
                parse_iso(since)
        except ValueError:
            return problem(400, "Invalid Resource", "since_last_changed is not ISO-8601")
        ordered = self._ordered(account.id, audience.id, audience.version, status, since, q.get("sort_dir", "ASC"))
        page = [audience.members[h] for h in ordered[offset: offset + count]]
        return json_response({"members": [self._public(m) for m in page], "list_id": audience.id,
                              "total_items": len(ordered)})

    @staticmethod
    def _public(member: dict) -> dict:
        out = dict(member)
        out["tags"] = [{"id": i, "name": n} for i, n in enumerate(member["tags"][:50])]
        out["tags_count"] = len(member["tags"])
        return out

    async def member(self, request: Request) -> Response:
        found = self.audience_of(request)
        if isinstance(found, Response):
            return found
        account, audience = found
        key = request.path_params["hash"]
        member = audience.members.get(key) or audience.members.get(member_hash(key))
        if request.method == "GET":
            return json_response(self._public(member)) if member else not_found()
        if request.method == "DELETE":
            if not member:
                return not_found()
            self._change(account, audience, member, status="archived")
            return Response(status_code=204)
        try:
            body = await json_body(request)
        except BadBody as exc:
            return problem(400, "JSON Parse Error", str(exc))
        if member is None and request.method == "PATCH":
            return not_found()
        email = member["email_address"] if member else body.get("email_address", key)
        outcome = self._write(account, audience, email, body, update_existing=True, new_status_key="status_if_new")
        if isinstance(outcome, dict) and "error" in outcome:
            return problem(400, outcome["title"], outcome["error"])
        return json_response(self._public(audience.members[member_hash(email)]))

    # members: write ----------------------------------------------------------------
    def _change(self, account: SandboxAccount, audience: Audience, member: dict, **values: object) -> None:
        member.update(values)
        member["last_changed"] = self.state.now()
        audience.members[member["id"]] = member
        audience.version += 1
        account.dirty = True

    def _write(self, account: SandboxAccount, audience: Audience, email: object, item: dict,
               update_existing: bool, new_status_key: str) -> dict:
        """Add or update one member; returns {"new"|"updated": member} or an error item."""
        if not isinstance(email, str) or not email.strip():
            return {"email_address": email, "error": "An email address must contain a single @.",
                    "error_code": "ERROR_GENERIC", "title": "Invalid Resource"}
        normal = normalize_email(email)
        domain = normal.rpartition("@")[2]
        if invalid_email_reason(normal) or domain in self.state.faults.fake_domains:
            return {"email_address": email, "error_code": "ERROR_GENERIC", "title": "Invalid Resource",
                    "error": f"{email} looks fake or invalid, please enter a real email address."}
        merge = item.get("merge_fields") or {}
        if not isinstance(merge, dict) or not all(isinstance(v, (str, int, float, dict)) for v in merge.values()):
            return {"email_address": email, "error_code": "ERROR_GENERIC", "title": "Invalid Resource",
                    "error": "The resource submitted could not be validated.", "field": "merge_fields"}
        unknown = set(merge) - {f["tag"] for f in audience.merge_fields}
        if unknown:
            return {"email_address": email, "error_code": "ERROR_GENERIC", "title": "Invalid Resource",
                    "error": f"Merge field {sorted(unknown)[0]} does not exist", "field": "merge_fields"}
        h = member_hash(normal)
        member = audience.members.get(h)
        status = item.get("status")
        if member is None and h in audience.forgotten:
            return {"email_address": email, "error_code": "ERROR_GENERIC", "title": "Forgotten Email Not Subscribed",
                    "error": f"{email} was permanently deleted and cannot be re-imported. The contact must "
                             "re-subscribe to get back on the list."}
        if member is None and domain in self.state.faults.signup_throttled_domains:
            return {"email_address": email, "error_code": "ERROR_GENERIC", "title": "Invalid Resource",
                    "error": f"{email} has signed up to a lot of lists very recently; we're not allowing more "
                             "signups for now"}
        missing = [f["tag"] for f in audience.merge_fields if f.get("required") and not merge.get(f["tag"])
                   and not (member or {}).get("merge_fields", {}).get(f["tag"])]
        if missing:
            return {"email_address": email, "error_code": "ERROR_GENERIC", "title": "Invalid Resource",
                    "error": f"{missing[0]} - Please enter a value", "field": f"merge_fields.{missing[0]}"}
        if member is not None:
            if not update_existing:
                return {"email_address": email, "error_code": "ERROR_CONTACT_EXISTS", "title": "Member Exists",
                        "error": f"{email} is already a list member, do you want to update? please provide update_existing:true in the request body"}
            if status == "subscribed" and member["status"] in ("unsubscribed", "cleaned"):
                return {"email_address": email, "error_code": "ERROR_GENERIC", "title": "Member In Compliance State",
                        "error": f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed."}
            changes = {"merge_fields": member["merge_fields"] | {k: v for k, v in merge.items()}}
            if status in STATUSES and status != "archived":
                changes["status"] = status
            elif member["status"] == "archived":
                changes["status"] = "subscribed"
            self._change(account, audience, member, **changes)
            return {"updated": member}
        new_status = item.get(new_status_key) or status or "subscribed"
        if new_status not in STATUSES or new_status == "archived":
            return {"email_address": email, "error_code": "ERROR_GENERIC", "title": "Invalid Resource",
                    "error": f"status {new_status!r} is not allowed", "field": "status"}
        member = {"id": h, "email_address": email.strip(), "status": new_status, "tags": [],
                  "merge_fields": {f["tag"]: "" for f in audience.merge_fields} | merge,
                  "unique_email_id": h[:10], "contact_id": h[10:], "list_id": audience.id}
        self._change(account, audience, member, timestamp_opt=self.state.now())
        return {"new": member}

    async def batch(self, request: Request) -> Response:
        found = self.audience_of(request)
        if isinstance(found, Response):
            return found
        account, audience = found
        try:
            body = await json_body(request)
        except BadBody as exc:
            return problem(400, "JSON Parse Error", str(exc))
        items = body.get("members")
        if not isinstance(items, list):
            return problem(400, "Invalid Resource", "members is required", errors=[{"field": "members", "message": "required"}])
        if len(items) > 500:
            return problem(400, "Invalid Resource", "You may only submit 500 members at a time")
        out = {"new_members": [], "updated_members": [], "errors": []}
        for item in items:
            result = self._write(account, audience, item.get("email_address") if isinstance(item, dict) else None,
                                 item if isinstance(item, dict) else {}, bool(body.get("update_existing")),
                                 new_status_key="status_if_new")
            if "new" in result:
                out["new_members"].append(self._public(result["new"]))
            elif "updated" in result:
                out["updated_members"].append(self._public(result["updated"]))
            else:
                result.pop("title", None)
                out["errors"].append({"field": "", "field_message": ""} | result)
        out |= {"total_created": len(out["new_members"]), "total_updated": len(out["updated_members"]),
                "error_count": len(out["errors"])}
        return json_response(out)

    # lists, merge fields, tags ----------------------------------------------------
    async def lists(self, request: Request) -> Response:
        account = self.authenticate(request)
        if isinstance(account, Response):
            return account
        lists = [{"id": a.id, "name": a.name, "stats": {"member_count": sum(
            m["status"] == "subscribed" for m in a.members.values())}} for a in account.mailchimp.audiences.values()]
        return json_response({"lists": lists, "total_items": len(lists)})

    async def merge_fields(self, request: Request) -> Response:
        found = self.audience_of(request)
        if isinstance(found, Response):
            return found
        _, audience = found
        return json_response({"merge_fields": audience.merge_fields, "list_id": audience.id,
                              "total_items": len(audience.merge_fields)})

    async def segments(self, request: Request) -> Response:
        found = self.audience_of(request)
        if isinstance(found, Response):
            return found
        account, audience = found
        if request.method == "POST":
            try:
                body = await json_body(request)
            except BadBody as exc:
                return problem(400, "JSON Parse Error", str(exc))
            name = body.get("name")
            if not isinstance(name, str) or not name.strip() or len(name) > 100:
                return problem(400, "Invalid Resource", "name must be 1-100 characters")
            if name in audience.segments.values():
                return problem(400, "Invalid Resource", "Sorry, that tag already exists.")
            segment_id = str(10_000 + len(audience.segments) + 1)
            audience.segments[segment_id] = name
            account.dirty = True
            return json_response({"id": int(segment_id), "name": name, "type": "static", "member_count": 0,
                                  "list_id": audience.id})
        segments = [{"id": int(sid), "name": name, "type": "static", "list_id": audience.id,
                     "member_count": sum(name in m["tags"] for m in audience.members.values())}
                    for sid, name in audience.segments.items()]
        return json_response({"segments": segments, "total_items": len(segments), "list_id": audience.id})

    async def segment_members(self, request: Request) -> Response:
        found = self.audience_of(request)
        if isinstance(found, Response):
            return found
        account, audience = found
        name = audience.segments.get(request.path_params["segment_id"])
        if name is None:
            return not_found()
        try:
            body = await json_body(request)
        except BadBody as exc:
            return problem(400, "JSON Parse Error", str(exc))
        adds, removes = body.get("members_to_add") or [], body.get("members_to_remove") or []
        if len(adds) > 500 or len(removes) > 500:
            return problem(400, "Invalid Resource", "You may only add or remove 500 members at a time")
        added, removed, errors = [], [], []
        for emails, adding in ((adds, True), (removes, False)):
            for email in emails:
                member = audience.members.get(member_hash(email)) if isinstance(email, str) else None
                if member is None:
                    errors.append({"email_addresses": [email], "error": "Email address is not on the list"})
                    continue
                tags = [t for t in member["tags"] if t != name] + ([name] if adding else [])
                self._change(account, audience, member, tags=tags)
                (added if adding else removed).append({"email_address": member["email_address"]})
        return json_response({"members_added": added, "members_removed": removed, "errors": errors,
                              "total_added": len(added), "total_removed": len(removed), "error_count": len(errors)})

    async def ping(self, request: Request) -> Response:
        account = self.authenticate(request)
        return account if isinstance(account, Response) else json_response({"health_status": "Everything's Chimpy!"})

    def routes(self) -> list[Route]:
        return [
            Route("/3.0/ping", self.ping),
            Route("/3.0/lists", self.lists),
            Route("/3.0/lists/{list_id}", self.batch, methods=["POST"]),
            Route("/3.0/lists/{list_id}/members", self.members),
            Route("/3.0/lists/{list_id}/members/{hash}", self.member, methods=["GET", "PUT", "PATCH", "DELETE"]),
            Route("/3.0/lists/{list_id}/merge-fields", self.merge_fields),
            Route("/3.0/lists/{list_id}/segments", self.segments, methods=["GET", "POST"]),
            Route("/3.0/lists/{list_id}/segments/{segment_id}", self.segment_members, methods=["POST"]),
        ]


class ConnectionGate:
    """Mailchimp allows 10 simultaneous connections per account; the 11th gets a 429."""

    def __init__(self, fake: MailchimpFake) -> None:
        self.fake, self.in_flight = fake, 0
        self.app = Starlette(routes=fake.routes())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.in_flight >= MAX_CONNECTIONS:
            await problem(429, "Too Many Requests",
                          "You have exceeded the limit of 10 simultaneous connections.")(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def mailchimp_app(state: SandboxState) -> ConnectionGate:
    return ConnectionGate(MailchimpFake(state))
