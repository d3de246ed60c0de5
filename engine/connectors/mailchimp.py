"""Mailchimp Marketing v3 client: dc from the key, member paging, batch subscribe, tags as segments."""
from __future__ import annotations

from typing import AsyncIterator

import httpx
import orjson

from .http import ApiError, ApiTransport, AuthError, RetryPolicy, decode_json

API = "Mailchimp"
PAGE_SIZE = 1000
BATCH_SIZE = 500
JSON = {"Content-Type": "application/json"}


def datacenter(api_key: str) -> str:
    prefix, _, dc = api_key.rpartition("-")
    if not prefix or not dc.isalnum():
        raise ValueError("a Mailchimp API key ends in -<datacentre>, e.g. -us6")
    return dc


def problem_text(response: httpx.Response) -> str | None:
    try:
        body = orjson.loads(response.content)
        return f"{body.get('title', 'Error')}: {body.get('detail', '')}".strip()
    except (orjson.JSONDecodeError, AttributeError):
        return None


class MailchimpClient:
    def __init__(self, api_key: str, transport: httpx.AsyncBaseTransport | None = None,
                 policy: RetryPolicy | None = None, max_concurrency: int = 4, timeout_s: float = 120.0) -> None:
        self.base = f"https://{datacenter(api_key)}.api.mailchimp.com/3.0"
        self.client = httpx.AsyncClient(transport=transport, timeout=timeout_s, auth=("syncops", api_key))
        self.http = ApiTransport(API, self.client, max_concurrency, policy or RetryPolicy())

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _call(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> dict:
        response = await self.http.send(method, f"{self.base}{path}", problem_text, params=params,
                                        content=orjson.dumps(body) if body is not None else None,
                                        headers=JSON if body is not None else None)
        if response.status_code == 401:
            raise AuthError(API, problem_text(response) or "API key refused", 401)
        if response.status_code >= 400:
            raise ApiError(API, f"{method} {path}: {problem_text(response) or f'HTTP {response.status_code}'}",
                           response.status_code)
        if response.status_code == 204:
            return {}
        return decode_json(API, response)

    async def members(self, list_id: str, since: str | None = None) -> AsyncIterator[list[dict]]:
        """Members (all statuses but archived) changed since `since`, oldest change first."""
        offset = 0
        while True:
            params = {"count": PAGE_SIZE, "offset": offset, "sort_field": "last_changed", "sort_dir": "ASC"}
            if since:
                params["since_last_changed"] = since
            body = await self._call("GET", f"/lists/{list_id}/members", params=params)
            page = [m for m in body.get("members") or [] if isinstance(m, dict)]
            self.http.note(f"read members {list_id}", len(page), PAGE_SIZE)
            if page:
                yield page
            offset += PAGE_SIZE
            if not page or offset >= int(body.get("total_items") or 0):
                return

    async def batch_subscribe(self, list_id: str, members: list[dict], update_existing: bool) -> dict:
        if not 0 < len(members) <= BATCH_SIZE:
            raise ValueError(f"batch subscribe takes 1-{BATCH_SIZE} members")
        self.http.note(f"batch subscribe {list_id}", len(members), BATCH_SIZE)
        return await self._call("POST", f"/lists/{list_id}", {"members": members, "update_existing": update_existing})

    async def tags(self, list_id: str) -> dict[str, str]:
        """Tag name -> segment id of the audience's tags (static segments)."""
        self.http.note(f"tags {list_id}", 1, 1)
        body = await self._call("GET", f"/lists/{list_id}/segments", params={"type": "static", "count": 1000})
        return {s["name"]: str(s["id"]) for s in body.get("segments") or [] if isinstance(s, dict)}

    async def create_tag(self, list_id: str, name: str) -> str:
        self.http.note(f"create tag {name}", 1, 1)
        body = await self._call("POST", f"/lists/{list_id}/segments", {"name": name, "static_segment": []})
        return str(body["id"])

    async def change_tag(self, list_id: str, segment_id: str, add: list[str], remove: list[str]) -> dict:
        if len(add) > BATCH_SIZE or len(remove) > BATCH_SIZE:
            raise ValueError(f"a tag change takes at most {BATCH_SIZE} additions and removals")
        self.http.note(f"tag {segment_id} {'+' if add else '-'}", len(add) + len(remove), BATCH_SIZE)
        return await self._call("POST", f"/lists/{list_id}/segments/{segment_id}",
                                {"members_to_add": add, "members_to_remove": remove})

    async def merge_fields(self, list_id: str) -> list[dict]:
        self.http.note(f"merge fields {list_id}", 1, 1)
        body = await self._call("GET", f"/lists/{list_id}/merge-fields", params={"count": 1000})
        return body.get("merge_fields") or []

    async def audiences(self) -> list[dict]:
        body = await self._call("GET", "/lists", params={"count": 1000})
        return body.get("lists") or []

    async def member(self, list_id: str, member_hash: str) -> dict | None:
        try:
            return await self._call("GET", f"/lists/{list_id}/members/{member_hash}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise


__all__ = ["MailchimpClient", "ApiError", "datacenter"]
