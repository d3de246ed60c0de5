"""The embedded sandbox: both fakes behind one ASGI app, in-process or on loopback."""
from __future__ import annotations

import asyncio
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
from filelock import FileLock

from ..clock import Clock, system_clock
from .common import FaultInjector, HostRouter, json_response
from .mailchimp_app import mailchimp_app, problem
from .state import SandboxState
from .zoho_app import zoho_apps, zoho_error


class Sandbox:
    """Fake Zoho CRM + Mailchimp over the sandbox state in <data>/sandbox."""

    def __init__(self, root: Path, clock: Clock = system_clock) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.state = SandboxState(root, clock)  # loaded by session(), under the lock
        self.lock = FileLock(root / "sandbox.lock")
        zoho_api, zoho_accounts, self.zoho = zoho_apps(self.state)
        self.zoho_faults = FaultInjector(zoho_api, self.state,
                                         throttled=zoho_error(429, "TOO_MANY_REQUESTS", "too many requests"),
                                         server_error=zoho_error(500, "INTERNAL_ERROR", "Internal Server Error"))
        self.mailchimp = mailchimp_app(self.state)
        self.mailchimp_faults = FaultInjector(self.mailchimp, self.state, seed=4321,
                                              throttled=problem(429, "Too Many Requests", "Too many requests"),
                                              server_error=problem(503, "Service Unavailable",
                                                                   "The service is temporarily unavailable"))
        self.app = HostRouter([("zohoapis.", self.zoho_faults), ("accounts.zoho", zoho_accounts),
                               ("api.mailchimp.com", self.mailchimp_faults)], self.state)

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.app)

    @contextmanager
    def session(self) -> Iterator["Sandbox"]:
        """Hold the sandbox for one run: reload what other processes saved, save what changed."""
        with self.lock:
            self.state.load()
            self.zoho.forget_cached_queries()
            self.mailchimp.fake.forget_cached_queries()
            try:
                yield self
            finally:
                self.state.save()

    def injected_faults(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for injector in (self.zoho_faults, self.mailchimp_faults):
            for kind, count in injector.injected.items():
                totals[kind] = totals.get(kind, 0) + count
        return totals


class LoopbackTransport(httpx.AsyncHTTPTransport):
    """Sends requests for the real API hosts to a `syncops sandbox serve` on 127.0.0.1, keeping Host."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return await super().handle_async_request(request)


async def serve(sandbox: Sandbox, port: int, save_every_s: float = 1.0) -> None:
    """Serve the fakes on loopback, saving changed state every second and on shutdown."""
    import uvicorn

    with sandbox.lock:
        sandbox.state.load()
    config = uvicorn.Config(sandbox.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)

    async def saver() -> None:
        while True:
            await asyncio.sleep(save_every_s)
            with sandbox.lock:
                sandbox.state.save()

    task = asyncio.create_task(saver())
    try:
        await server.serve()
    finally:
        task.cancel()
        with sandbox.lock:
            sandbox.state.save()


__all__ = ["Sandbox", "LoopbackTransport", "serve", "json_response"]
