"""What both API clients share: retries with backoff, a concurrency cap, request counts, errors."""
from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass
from datetime import timezone

import httpx
import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class ApiError(Exception):
    """A request the API refused for good; the message is safe to show (no secrets, no query)."""

    def __init__(self, api: str, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(f"{api}: {message}")
        self.api, self.status, self.code, self.detail = api, status, code, message


class AuthError(ApiError):
    """Credentials were refused; no retry can help."""


class TransientError(ApiError):
    """Worth retrying: throttled, server error or transport failure."""

    def __init__(self, api: str, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(api, message, status)
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def decode_json(api: str, response: httpx.Response) -> dict:
    """The body as a JSON object, or an ApiError that says what came back instead."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        sample = response.text[:60].replace("\n", " ")
        raise TransientError(api, f"answered HTTP {response.status_code} with a body that is not JSON: {sample!r}",
                             response.status_code) from None
    if not isinstance(body, dict):
        raise TransientError(api, f"answered HTTP {response.status_code} with JSON that is not an object",
                             response.status_code)
    return body


@dataclass
class RetryPolicy:
    attempts: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0


class ApiTransport:
    """Sends requests with a concurrency cap and full-jitter backoff that honours Retry-After."""

    def __init__(self, api: str, client: httpx.AsyncClient, max_concurrency: int, policy: RetryPolicy,
                 rng: random.Random | None = None) -> None:
        self.api, self.client, self.policy = api, client, policy
        self.slots = asyncio.Semaphore(max_concurrency)
        self.rng = rng or random.Random()
        self.requests = 0
        self.retries = 0
        self.work: dict[str, list[int]] = {}  # stream -> [items, items allowed per call]
        self.server_time: str | None = None  # the latest response's Date, as ISO-8601

    def server_now(self) -> str | None:
        return self.server_time

    def note(self, stream: str, items: int, per_call: int) -> None:
        """Record work done, so a run can compare its requests with the fewest the API allows."""
        entry = self.work.setdefault(stream, [0, per_call])
        entry[0] += items

    def minimum_requests(self) -> int:
        return sum(max(1, -(-items // per_call)) for items, per_call in self.work.values())

    def _wait(self, retry_state) -> float:
        self.retries += 1
        error = retry_state.outcome.exception()
        ceiling = min(self.policy.max_delay_s, self.policy.base_delay_s * 2 ** (retry_state.attempt_number - 1))
        jitter = self.rng.uniform(0, ceiling)
        hinted = getattr(error, "retry_after", None) or 0.0
        return max(hinted, jitter)

    async def send(self, method: str, url: str, error_of, **kwargs) -> httpx.Response:
        """error_of(response) turns a non-2xx response into the API's own error (or None)."""
        async for attempt in AsyncRetrying(stop=stop_after_attempt(self.policy.attempts), wait=self._wait,
                                           retry=retry_if_exception_type(TransientError), reraise=True):
            with attempt:
                return await self._send_once(method, url, error_of, **kwargs)
        raise AssertionError("unreachable")

    async def _send_once(self, method: str, url: str, error_of, **kwargs) -> httpx.Response:
        async with self.slots:
            self.requests += 1
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                raise TransientError(self.api, f"{method} {httpx.URL(url).path}: {type(exc).__name__}") from None
        stamp = response.headers.get("date")
        if stamp:
            try:
                self.server_time = email.utils.parsedate_to_datetime(stamp).astimezone(timezone.utc).isoformat()
            except (TypeError, ValueError):
                pass
        if response.status_code in RETRYABLE_STATUS:
            raise TransientError(self.api, error_of(response) or f"HTTP {response.status_code}",
                                 response.status_code, parse_retry_after(response.headers.get("retry-after")))
        return response
