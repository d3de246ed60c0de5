"""The sandbox's own data: one fake Zoho org and one fake Mailchimp account per subscriber account.

This is the *server side* of the fakes. Secrets are kept only as sha256 digests, as a
real provider would; the client's copies live in the credentials file.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ..clock import Clock, iso, system_clock
from ..rules.identity import member_hash
from ..store.storage import atomic_write_bytes, file_signature, read_json_file
from ..store.packed import JsonTable

ZOHO_ID_BASE = 4876876000000000000


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Faults:
    """Fault injection knobs, applied by the fake servers to every API request."""

    rate_429: float = 0.0
    retry_after_s: float = 0.05
    rate_5xx: float = 0.0
    rate_timeout: float = 0.0
    latency_ms: float = 0.0
    token_ttl_requests: int = 0  # 0: access tokens live their normal hour
    fake_domains: list[str] = field(default_factory=lambda: ["example.com", "test.com"])
    signup_throttled_domains: list[str] = field(default_factory=list)  # "signed up to a lot of lists"

    def to_doc(self) -> dict:
        return self.__dict__.copy()


@dataclass
class ZohoOrg:
    org_id: str
    client_id: str
    client_secret_digest: str
    refresh_token_digest: str
    modules: dict[str, JsonTable]  # module -> id -> record
    campaigns: dict[str, dict]  # id -> {Campaign_Name, Status, members: {module: [ids]}}
    views: dict[str, list[dict]]  # module -> [{id, name, system_name, field, value}]
    custom_fields: dict[str, list[dict]]  # module -> field metadata of custom fields
    deleted: dict[str, list[dict]] = field(default_factory=dict)
    next_id: int = ZOHO_ID_BASE + 1000
    version: int = 0

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def save_record(self, module: str, record: dict, now: str) -> None:
        """Store a changed (or new) record, stamped with the modification time."""
        record["Modified_Time"] = now
        self.modules[module][record["id"]] = record
        self.version += 1


@dataclass
class Audience:
    id: str
    name: str
    members: JsonTable  # subscriber hash -> member
    merge_fields: list[dict]
    segments: dict[str, str]  # segment id -> tag name
    version: int = 0
    forgotten: list[str] = field(default_factory=list)  # hashes of permanently deleted members


@dataclass
class MailchimpAccount:
    dc: str
    api_key_digest: str
    audiences: dict[str, Audience]


@dataclass
class SandboxAccount:
    id: str
    zoho: ZohoOrg
    mailchimp: MailchimpAccount
    tokens: dict[str, dict] = field(default_factory=dict)  # access-token digest -> {expires, uses}
    dirty: bool = False

    def save(self, folder: Path) -> None:
        """Small metadata as JSON, each record table as its own line file."""
        folder.mkdir(parents=True, exist_ok=True)
        zoho = {k: v for k, v in self.zoho.__dict__.items() if k != "modules"}
        audiences = {k: {f: v for f, v in a.__dict__.items() if f != "members"}
                     for k, a in self.mailchimp.audiences.items()}
        for module, table in self.zoho.modules.items():
            table.save(folder / f"zoho-{module}.jsonl")
        for list_id, audience in self.mailchimp.audiences.items():
            audience.members.save(folder / f"members-{list_id}.jsonl")
        meta = {"id": self.id, "zoho": zoho, "modules": list(self.zoho.modules),
                "mailchimp": {"dc": self.mailchimp.dc, "api_key_digest": self.mailchimp.api_key_digest,
                              "audiences": audiences}}
        atomic_write_bytes(folder / "meta.json", orjson.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> "SandboxAccount | None":
        meta = read_json_file(folder / "meta.json")
        if not meta:
            return None
        modules = {m: JsonTable.load(folder / f"zoho-{m}.jsonl") for m in meta["modules"]}
        mc = meta["mailchimp"]
        audiences = {k: Audience(members=JsonTable.load(folder / f"members-{k}.jsonl"), **a)
                     for k, a in mc["audiences"].items()}
        return cls(id=meta["id"], zoho=ZohoOrg(modules=modules, **meta["zoho"]),
                   mailchimp=MailchimpAccount(dc=mc["dc"], api_key_digest=mc["api_key_digest"], audiences=audiences))


def _signature(folder: Path) -> tuple:
    """Every file's stat signature: atomic replaces by another process change it."""
    try:
        return tuple(sorted((p.name, file_signature(p)) for p in folder.iterdir() if p.is_file()))
    except FileNotFoundError:
        return ()


class SandboxState:
    """All fake accounts, persisted one file each under <data>/sandbox/."""

    def __init__(self, root: Path, clock: Clock = system_clock) -> None:
        self.root = root
        self.clock = clock
        self.accounts: dict[str, SandboxAccount] = {}
        self.faults = Faults()
        self._second, self._now = None, ""
        self._signatures: dict[str, tuple] = {}  # account id -> its files' stat, as last loaded or saved

    def now(self) -> str:
        """iso(clock()), formatted once per second: a batch stamps hundreds of members."""
        moment = self.clock()
        second = int(moment.timestamp())
        if second != self._second:
            self._second, self._now = second, iso(moment)
        return self._now

    # persistence -----------------------------------------------------------------
    @property
    def faults_path(self) -> Path:
        return self.root / "faults.json"

    def load(self) -> "SandboxState":
        """Re-reads only the accounts whose files changed since this process last loaded or saved them."""
        kept = {a.id: a for a in self.accounts.values() if self._signatures.get(a.id) == _signature(self._folder(a.id))}
        self.accounts.clear()
        for folder in sorted(p for p in self.root.glob("account-*") if p.is_dir()):
            account_id = folder.name.removeprefix("account-")
            account = kept.get(account_id) or SandboxAccount.load(folder)
            if account:
                self.accounts[account.id] = account
                self._signatures[account.id] = _signature(folder)
        faults = read_json_file(self.faults_path)
        self.faults = Faults(**faults) if faults else Faults()
        return self

    def save(self, only_dirty: bool = True) -> None:
        for account in self.accounts.values():
            if account.dirty or not only_dirty:
                account.save(self._folder(account.id))
                account.dirty = False
                self._signatures[account.id] = _signature(self._folder(account.id))
        atomic_write_bytes(self.faults_path, orjson.dumps(self.faults.to_doc()))

    def _folder(self, account_id: str) -> Path:
        return self.root / f"account-{account_id}"

    # lookups used by the fake servers --------------------------------------------
    def account_by_api_key(self, api_key: str) -> SandboxAccount | None:
        wanted = digest(api_key)
        return next((a for a in self.accounts.values() if a.mailchimp.api_key_digest == wanted), None)

    def account_by_refresh_token(self, client_id: str, secret: str, refresh: str) -> SandboxAccount | None:
        for account in self.accounts.values():
            org = account.zoho
            if (org.client_id, org.client_secret_digest, org.refresh_token_digest) == (
                client_id, digest(secret), digest(refresh)):
                return account
        return None

    def account_by_access_token(self, token: str) -> tuple[SandboxAccount, dict] | None:
        wanted = digest(token)
        for account in self.accounts.values():
            if wanted in account.tokens:
                return account, account.tokens[wanted]
        return None

    def audience(self, account: SandboxAccount, list_id: str) -> Audience | None:
        return account.mailchimp.audiences.get(list_id)

    # direct edits, for demos and tests (what a user would do in the Zoho/Mailchimp UIs) ---
    def edit_crm_record(self, account_id: str, module: str, record_id: str, **values: object) -> dict:
        account = self.accounts[account_id]
        record = account.zoho.modules[module][record_id]
        record.update(values)
        account.zoho.save_record(module, record, self.now())
        account.dirty = True
        return record

    def set_member_status(self, account_id: str, list_id: str, email: str, status: str) -> dict:
        account = self.accounts[account_id]
        audience = account.mailchimp.audiences[list_id]
        member = audience.members[member_hash(email)]
        member["status"] = status
        member["last_changed"] = self.now()
        audience.members[member["id"]] = member
        audience.version += 1
        account.dirty = True
        return member
