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
