"""Zoho CRM v7 client: OAuth refresh, paging past 2000 with page_token, upsert with per-record results."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import AsyncIterator

import httpx
import orjson

from ..clock import shift
from .http import ApiError, ApiTransport, AuthError, RetryPolicy, decode_json

API = "Zoho CRM"
DATA_CENTRES = {
    "US": ("https://accounts.zoho.com", "https://www.zohoapis.com"),
    "EU": ("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    "IN": ("https://accounts.zoho.in", "https://www.zohoapis.in"),
    "AU": ("https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
    "JP": ("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    "CN": ("https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
    "CA": ("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    "SA": ("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
}
PAGE_SIZE = 200
DISCRETE_PAGES = 2000 // PAGE_SIZE
WRITE_BATCH = 100
WINDOW_RECORDS = 100_000 - PAGE_SIZE  # page_token paging stops at 100,000 records


@dataclass
class ZohoCredentials:
    client_id: str
    client_secret: str
    refresh_token: str
    dc: str = "US"


class ZohoAuth(httpx.Auth):
    """Adds `Zoho-oauthtoken`; refreshes proactively and once more on INVALID_TOKEN, single-flight."""

    def __init__(self, credentials: ZohoCredentials, accounts_client: httpx.AsyncClient) -> None:
        self.credentials = credentials
        self.accounts_client = accounts_client
        self.token: str | None = None
        self.expires_at = 0.0
        self.lock = asyncio.Lock()
        self.refreshes = 0

    async def _refresh(self, stale: str | None) -> str:
        async with self.lock:
            if self.token and self.token != stale and time.monotonic() < self.expires_at - 300:
                return self.token
            accounts_url = DATA_CENTRES[self.credentials.dc][0]
            try:
                response = await self.accounts_client.post(f"{accounts_url}/oauth/v2/token", data={
                    "grant_type": "refresh_token", "client_id": self.credentials.client_id,
                    "client_secret": self.credentials.client_secret,
                    "refresh_token": self.credentials.refresh_token})
            except httpx.TransportError as exc:
                raise AuthError(API, f"could not reach the accounts server: {type(exc).__name__}") from None
            body = decode_json(API, response)
            if "error" in body or "access_token" not in body:
                raise AuthError(API, f"token refresh refused ({body.get('error', 'no access_token')}); "
                                     "check the client id, secret and refresh token for this data centre")
            self.refreshes += 1
            self.token = body["access_token"]
            self.expires_at = time.monotonic() + float(body.get("expires_in", 3600))
            return self.token

    async def async_auth_flow(self, request: httpx.Request):
        token = self.token if self.token and time.monotonic() < self.expires_at - 300 else await self._refresh(None)
        request.headers["Authorization"] = f"Zoho-oauthtoken {token}"
        response = yield request
        if response.status_code == 401 and b"INVALID_TOKEN" in await response.aread():
            token = await self._refresh(token)
            request.headers["Authorization"] = f"Zoho-oauthtoken {token}"
            yield request


def zoho_error_text(response: httpx.Response) -> str | None:
    try:
        body = orjson.loads(response.content)
        return f"{body.get('code', 'ERROR')}: {body.get('message', '')}".strip()
    except (orjson.JSONDecodeError, AttributeError):
        return None


class ZohoClient:
    def __init__(self, credentials: ZohoCredentials, transport: httpx.AsyncBaseTransport | None = None,
                 policy: RetryPolicy | None = None, max_concurrency: int = 5, timeout_s: float = 30.0) -> None:
        if credentials.dc not in DATA_CENTRES:
            raise ValueError(f"unknown Zoho data centre {credentials.dc!r}; one of {', '.join(DATA_CENTRES)}")
        self.base = f"{DATA_CENTRES[credentials.dc][1]}/crm/v7"
        accounts = httpx.AsyncClient(transport=transport, timeout=timeout_s)
        self.auth = ZohoAuth(credentials, accounts)
        self.client = httpx.AsyncClient(transport=transport, timeout=timeout_s, auth=self.auth)
        self.http = ApiTransport(API, self.client, max_concurrency, policy or RetryPolicy())

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.auth.accounts_client.aclose()

    async def _get(self, path: str, params: dict | None = None, headers: dict | None = None) -> dict | None:
        response = await self.http.send("GET", f"{self.base}{path}", zoho_error_text, params=params, headers=headers)
        if response.status_code in (204, 304):
            return None
        if response.status_code >= 400:
            if response.status_code == 401:
                raise AuthError(API, zoho_error_text(response) or "unauthorised", 401)
            raise ApiError(API, f"GET {path}: {zoho_error_text(response) or response.status_code}", response.status_code)
        return decode_json(API, response)

    async def _pages(self, path: str, params: dict, since: str | None = None) -> AsyncIterator[list[dict]]:
        """Every page of a list: `page` for the first 2000 records, then `page_token`."""
        headers = {"If-Modified-Since": since} if since else None
        page, token = 1, None
        while True:
            query = dict(params, per_page=PAGE_SIZE)
            query |= {"page_token": token} if token else {"page": page}
            body = await self._get(path, query, headers)
            if body is None:
                self.http.note(f"read {path}", 0, PAGE_SIZE)
                return
            data = body.get("data")
            if not isinstance(data, list):
                raise ApiError(API, f"GET {path}: response has no data array")
            self.http.note(f"read {path}", len(data), PAGE_SIZE)
            yield [r for r in data if isinstance(r, dict) and isinstance(r.get("id"), str)]
            info = body.get("info") or {}
            if not info.get("more_records"):
                return
            if token or page >= DISCRETE_PAGES:
                token = info.get("next_page_token")
                if not token:
                    raise ApiError(API, f"GET {path}: more records but no next_page_token")
            else:
                page += 1

    def records(self, module: str, fields: list[str], since: str | None = None, converted: str | None = None,
                cvid: str | None = None, ids: list[str] | None = None) -> AsyncIterator[list[dict]]:
        params: dict = {"fields": ",".join(fields)}
        if cvid:
            params["cvid"] = cvid
            return self._pages(f"/{module}", params, since)
        if converted:
            params["converted"] = converted
        if ids:
            params["ids"] = ",".join(ids)
        return self._changed_since(f"/{module}", params | {"sort_by": "Modified_Time", "sort_order": "asc"}, since)

    async def _changed_since(self, path: str, params: dict, since: str | None) -> AsyncIterator[list[dict]]:
        """Oldest change first; restarts from the last Modified_Time before Zoho's 100,000-record ceiling."""
        fields = params["fields"].split(",")
        if "Modified_Time" not in fields:
            params = dict(params, fields=",".join(fields + ["Modified_Time"]))
        seen_at_edge: set[str] = set()
        edge = ""
        while True:
            in_window, restart = 0, False
            async for page in self._pages(path, params, since):
                fresh = [r for r in page if (r.get("Modified_Time") or "") > edge or
                         (r.get("Modified_Time") == edge and r["id"] not in seen_at_edge)]
                for record in fresh:
                    stamp = record.get("Modified_Time") or ""
                    if stamp != edge:
                        edge, seen_at_edge = stamp, set()
                    seen_at_edge.add(record["id"])
                if fresh:
                    yield fresh
                in_window += len(page)
                if in_window >= WINDOW_RECORDS:
                    restart = True
                    break
            if not restart:
                return
            since = shift(edge, -1)

    def campaign_members(self, campaign_id: str, module: str, since: str | None = None) -> AsyncIterator[list[dict]]:
        params = {"fields": "id,Email"} | ({"converted": "both"} if module == "Leads" else {})
        return self._pages(f"/Campaigns/{campaign_id}/{module}", params, since)

    async def campaigns(self) -> list[dict]:
        out = []
        async for page in self._pages("/Campaigns", {"fields": "Campaign_Name,Status"}):
            out.extend(page)
        return out

    async def custom_views(self, module: str) -> list[dict]:
        self.http.note(f"views {module}", 1, 1)
        body = await self._get("/settings/custom_views", {"module": module})
        return (body or {}).get("custom_views") or []

    async def fields(self, module: str) -> list[dict]:
        self.http.note(f"fields {module}", 1, 1)
        body = await self._get("/settings/fields", {"module": module})
        return (body or {}).get("fields") or []

    async def search_email(self, module: str, email: str) -> list[dict]:
        self.http.note(f"search {module}", 1, 1)
        body = await self._get(f"/{module}/search", {"email": email})
        return (body or {}).get("data") or []

    async def deleted(self, module: str, since: str | None = None) -> list[dict]:
        """Records deleted (recycle bin and permanent) since `since`; Zoho keeps them 60/120 days."""
        out = []
        async for page in self._pages(f"/{module}/deleted", {"type": "all"}, since):
            out.extend(page)
        return out

    async def upsert(self, module: str, records: list[dict]) -> list[dict]:
        """One result per record, in order; never assumes a 2xx means every record succeeded."""
        if not 0 < len(records) <= WRITE_BATCH:
            raise ValueError(f"upsert takes 1-{WRITE_BATCH} records")
        self.http.note(f"upsert {module}", len(records), WRITE_BATCH)
        body = {"data": records, "duplicate_check_fields": ["Email"], "trigger": []}
        response = await self.http.send("POST", f"{self.base}/{module}/upsert", zoho_error_text,
                                        content=orjson.dumps(body), headers={"Content-Type": "application/json"})
        if response.status_code == 401:
            raise AuthError(API, zoho_error_text(response) or "unauthorised", 401)
        parsed = decode_json(API, response)
        results = parsed.get("data")
        if not isinstance(results, list) or len(results) != len(records):
            raise ApiError(API, f"upsert answered HTTP {response.status_code}: "
                                f"{zoho_error_text(response) or 'no per-record results'}", response.status_code)
        return results
