"""Pieces both fake servers share: fast JSON responses, paging tokens, fault injection."""
from __future__ import annotations

import asyncio
import base64
import email.utils
import random
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..clock import parse_iso
from ..store.packed import JsonTable
from .state import SandboxState


def changed_rows(table: JsonTable, stamp_field: str, since: datetime | None,
                 inclusive: bool = False) -> Iterator[tuple[str, dict]]:
    """(key, row) of a table's rows stamped after `since` (or at it, when inclusive), and of rows without
    the stamp. The stamp is read from the stored JSON before decoding, as a database would use an
    index: a "what changed since" query over 100k rows decodes only the rows that changed."""
    needle = f'"{stamp_field}":"'.encode()
    for key, raw in table.rows.items():
        if since is not None:
            at = raw.find(needle)
            if at >= 0:
                start = at + len(needle)
                stamp = parse_iso(raw[start: raw.index(b'"', start)].decode())
                if stamp < since or (stamp == since and not inclusive):
                    continue
        yield key, orjson.loads(raw)


def json_response(body: object, status: int = 200, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


class BadBody(Exception):
    """The request body is not the JSON the endpoint takes."""


async def json_body(request: Request) -> dict:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    return body


def encode_token(payload: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


def decode_token(token: str) -> dict | None:
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return decoded if isinstance(decoded, dict) else None
    except (ValueError, orjson.JSONDecodeError):
        return None


class FaultInjector:
    """Wraps an API app: random 429s (with Retry-After), 5xx, timeouts and latency."""

    def __init__(self, app: ASGIApp, state: SandboxState, throttled: Response | None = None,
                 server_error: Response | None = None, seed: int = 1234) -> None:
        self.app, self.state = app, state
        self.throttled = throttled
        self.server_error = server_error
        self.rng = random.Random(seed)
        self.injected = {"429": 0, "5xx": 0, "timeout": 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.state.faults
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        roll = self.rng.random()
        if roll < faults.rate_429:
            self.injected["429"] += 1
            response = self.throttled or json_response({"code": "TOO_MANY_REQUESTS"}, 429)
            response.headers["Retry-After"] = f"{faults.retry_after_s:g}"
            await response(scope, receive, send)
            return
        roll -= faults.rate_429
        if roll < faults.rate_5xx:
            self.injected["5xx"] += 1
            await (self.server_error or json_response({"code": "INTERNAL_ERROR"}, 500))(scope, receive, send)
            return
        roll -= faults.rate_5xx
        if roll < faults.rate_timeout:
            self.injected["timeout"] += 1
            if self.rng.random() < 0.5:  # half the time the server did the work and only the answer is lost
                async def lost(message: dict) -> None:
                    return None

                await self.app(scope, receive, lost)
            raise httpx.ReadTimeout("sandbox: injected timeout")
        await self.app(scope, receive, send)


class HostRouter:
    """One ASGI app for all fake hosts: dispatches on a marker in the Host header, as DNS would,
    and stamps every response with the server's `Date`, as real servers do."""

    def __init__(self, routes: list[tuple[str, ASGIApp]], state: SandboxState) -> None:
        self.routes, self.state = routes, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def dated(message: dict) -> None:
            if message["type"] == "http.response.start":
                stamp = email.utils.format_datetime(self.state.clock().astimezone(timezone.utc), usegmt=True)
                message["headers"] = list(message.get("headers", [])) + [(b"date", stamp.encode())]
            await send(message)

        await self._dispatch(scope, receive, dated)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").split(":")[0]
        for marker, app in self.routes:
            if marker in host:
                await app(scope, receive, send)
                return
        await json_response({"error": f"sandbox: no fake server for host {host!r}"}, 404)(scope, receive, send)
