"""Shared fixtures: an isolated data dir, a seeded sandbox, and helpers to look inside the fakes."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.connectors.http import RetryPolicy
from engine.rules.identity import member_hash, normalize_email
from engine.workspace import Workspace

NORTHWIND_LIST = "a1b2c3d4e5"
HARBOR_LIST = "f6e5d4c3b2"
FAST_RETRIES = RetryPolicy(attempts=8, base_delay_s=0.005, max_delay_s=0.05)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    for name in ("SYNCOPS_DATA_DIR", "SYNCOPS_CONFIG", "SYNCOPS_CREDENTIALS", "SYNCOPS_SANDBOX_PORT",
                 "TEXTUAL_THEME", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "data", retry_policy=FAST_RETRIES)


@pytest.fixture
def demo(ws: Workspace) -> Workspace:
    ws.reset_sandbox(records=300, seed=7)
    return ws


class World:
    """Read and edit the sandbox's server-side state, as a user of the Zoho/Mailchimp UIs would."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    @property
    def state(self):
        return self.ws.sandbox.state.load()

    def org(self, account: str = "northwind"):
        return self.state.accounts[account].zoho

    def audience(self, account: str = "northwind", list_id: str = NORTHWIND_LIST):
        return self.state.accounts[account].mailchimp.audiences[list_id]

    def member(self, email: str, account: str = "northwind", list_id: str = NORTHWIND_LIST) -> dict | None:
        return self.audience(account, list_id).members.get(member_hash(email))

    def crm_by_email(self, email: str, module: str = "Contacts", account: str = "northwind") -> list[dict]:
        return [r for r in self.org(account).modules[module].values() if normalize_email(r.get("Email")) == email]

    def edit(self, fn) -> object:
        """Run fn(state) inside a sandbox session so the change is saved."""
        with self.ws.sandbox.session() as box:
            return fn(box.state)


@pytest.fixture
def world(demo: Workspace) -> World:
    return World(demo)


FIXED_NOW = __import__("datetime").datetime(2026, 11, 20, 10, 0, tzinfo=__import__("datetime").timezone.utc)


def fixed_clock():
    return FIXED_NOW


def counter_ids():
    numbers = iter(range(1, 1_000_000))
    return lambda: f"run{next(numbers):04d}"


@pytest.fixture(scope="session")
def console_template(tmp_path_factory) -> Path:
    """A data dir with the demo synced once, on a fixed clock (built once, copied per test)."""
    from engine.sync.run import RunRequest

    root = tmp_path_factory.mktemp("console") / "data"
    ws = Workspace(root, clock=fixed_clock, retry_policy=FAST_RETRIES, new_run_id=counter_ids())
    ws.reset_sandbox(records=300, seed=7)
    for profile in ws.profiles():
        ws.run(profile.id, RunRequest(actor="scheduler", trigger="schedule"))
    return root


@pytest.fixture
def console_ws(console_template: Path, tmp_path: Path) -> Workspace:
    import itertools
    import shutil

    target = tmp_path / "console-data"
    shutil.copytree(console_template, target)
    numbers = itertools.count(100)
    return Workspace(target, clock=fixed_clock, retry_policy=FAST_RETRIES,
                     new_run_id=lambda: f"run{next(numbers):04d}")


@pytest.fixture
def make_console(console_ws: Workspace):
    from console.app import make_app

    def build(**kwargs):
        kwargs.setdefault("runs_in_process", True)
        app = make_app(console_ws, clock=fixed_clock, poll_interval=None, actor="ana@support-2", **kwargs)
        app.animation_level = "none"
        return app

    return build


async def settle(pilot) -> None:
    """Wait for workers and the messages they posted, then for rendering."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()
