"""Accounts from a TOML file; credentials from the environment or a 0600 file, never from the store."""
from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import tomli_w
from platformdirs import user_config_dir

from .connectors.zoho import DATA_CENTRES, ZohoCredentials
from .model import Account
from .rules.plans import PLAN_PROFILE_LIMITS
from .store.layout import Layout
from .store.storage import atomic_write_bytes

CREDENTIAL_KEYS = ("zoho_client_id", "zoho_client_secret", "zoho_refresh_token", "mailchimp_api_key")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which file and what to fix."""


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def accounts_file(layout: Layout) -> Path:
    return Path(os.environ.get("SYNCOPS_CONFIG") or layout.accounts_file)


def load_accounts(layout: Layout) -> dict[str, Account]:
    path = accounts_file(layout)
    raw = _read_toml(path).get("accounts", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [accounts] must be a table of accounts")
    accounts = {}
    for account_id, fields in raw.items():
        if not isinstance(fields, dict):
            raise ConfigError(f"{path}: accounts.{account_id} must be a table")
        plan = str(fields.get("plan", "free"))
        if plan not in PLAN_PROFILE_LIMITS:
            raise ConfigError(f"{path}: accounts.{account_id}.plan is {plan!r}; use one of "
                              f"{', '.join(PLAN_PROFILE_LIMITS)}")
        dc = str(fields.get("zoho_dc", "US")).upper()
        if dc not in DATA_CENTRES:
            raise ConfigError(f"{path}: accounts.{account_id}.zoho_dc is {dc!r}; use one of {', '.join(DATA_CENTRES)}")
        accounts[account_id] = Account(id=account_id, name=str(fields.get("name", account_id)), plan=plan,
                                       addons=[str(a) for a in fields.get("addons", [])], zoho_dc=dc,
                                       sandbox=bool(fields.get("sandbox", False)))
    return accounts


def write_accounts(layout: Layout, accounts: list[Account]) -> None:
    doc = {"accounts": {a.id: {"name": a.name, "plan": a.plan, "addons": a.addons, "zoho_dc": a.zoho_dc,
                               "sandbox": a.sandbox} for a in accounts}}
    atomic_write_bytes(accounts_file(layout), tomli_w.dumps(doc).encode(), mode=0o644)


def credentials_files(layout: Layout, account: Account) -> list[Path]:
    """Sandbox accounts use the sandbox's own file; real ones SYNCOPS_CREDENTIALS or the user config dir."""
    if account.sandbox:
        return [layout.sandbox_credentials]
    files = [Path(os.environ["SYNCOPS_CREDENTIALS"])] if os.environ.get("SYNCOPS_CREDENTIALS") else []
    return files + [Path(user_config_dir("syncops")) / "credentials.toml"]


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def env_name(account_id: str, key: str) -> str:
    return f"SYNCOPS_{account_id.upper().replace('-', '_')}_{key.upper()}"


def load_credentials(layout: Layout, account: Account) -> tuple[ZohoCredentials, str]:
    """Environment first, then the first 0600 credentials file that has the account."""
    found: dict[str, str] = {}
    for path in credentials_files(layout, account):
        if not path.exists():
            continue
        if not _private(path):
            raise ConfigError(f"{path} is readable by other users; run: chmod 600 {path}")
        section = _read_toml(path).get(account.id)
        if isinstance(section, dict):
            found = {k: str(v) for k, v in section.items() if k in CREDENTIAL_KEYS}
            break
    for key in CREDENTIAL_KEYS:
        if os.environ.get(env_name(account.id, key)):
            found[key] = os.environ[env_name(account.id, key)]
    missing = [k for k in CREDENTIAL_KEYS if not found.get(k)]
    if missing:
        raise ConfigError(f"account {account.id!r} has no {', '.join(missing)}: set "
                          f"{env_name(account.id, missing[0])} or add [{account.id}] to a 0600 credentials file")
    zoho = ZohoCredentials(found["zoho_client_id"], found["zoho_client_secret"], found["zoho_refresh_token"],
                           account.zoho_dc)
    return zoho, found["mailchimp_api_key"]


def write_sandbox_credentials(layout: Layout, credentials: dict[str, dict[str, str]]) -> None:
    atomic_write_bytes(layout.sandbox_credentials, tomli_w.dumps(credentials).encode(), mode=0o600)
