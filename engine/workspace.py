"""The engine's public API: everything the console and the CLI do goes through a Workspace."""
from __future__ import annotations

import asyncio
import os
import uuid
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import httpx

from . import config
from .clock import Clock, iso, system_clock
from .config import ConfigError
from .connectors.http import RetryPolicy
from .connectors.zoho import ZohoCredentials
from .model import OPTION_NAMES, Account, ObjectType, Options, Profile, Segments
from .rules.identity import normalize_email
from .rules.plans import plan_label, profile_limit, refusal_for_new_profile
from .sandbox.server import LoopbackTransport, Sandbox
from .store.history import HistoryKeys, read_segment, segment_numbers
from .store.layout import Layout, default_data_dir
from .store.repos import Audit, Cursors, Profiles, Runs
from .store.recovery import check_hot_files
from .store.storage import remove_stale_temp_files
from .sync.context import ProgressFn
from .sync.run import ProfileRunner, RunRequest, whoami


class UnknownProfile(LookupError):
    pass


class PlanLimitReached(Exception):
    pass


class Workspace:
    def __init__(self, data_dir: Path | None = None, clock: Clock = system_clock,
                 retry_policy: RetryPolicy | None = None, sandbox_port: int | None = None,
                 new_run_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12]) -> None:
        self.layout = Layout(Path(data_dir) if data_dir else default_data_dir())
        self.layout.create()
        remove_stale_temp_files(self.layout.root)
        self.notices: list[str] = check_hot_files(self.layout)
        self.clock = clock
        self.new_run_id = new_run_id
        self.retry_policy = retry_policy or RetryPolicy()
        port = sandbox_port or os.environ.get("SYNCOPS_SANDBOX_PORT")
        self.sandbox_port = int(port) if port else None
        store, locks = self.layout.store, self.layout.locks
        self.profiles_repo = Profiles(store, locks)
        self.cursors = Cursors(store, locks)
        self.runs = Runs(store, locks)
        self.audit = Audit(store, locks)
        self.history_keys = HistoryKeys(store, locks, self.notices)
        self._sandbox: Sandbox | None = None

    def now(self) -> str:
        return iso(self.clock())

    def clone(self) -> "Workspace":
        """A second handle on the same data dir, for another thread (runs keep their own sandbox copy)."""
        return Workspace(self.layout.root, self.clock, self.retry_policy, self.sandbox_port, self.new_run_id)

    # accounts and profiles ---------------------------------------------------------------
    def accounts(self) -> dict[str, Account]:
        return config.load_accounts(self.layout)

    def account(self, account_id: str) -> Account:
        accounts = self.accounts()
        if account_id not in accounts:
            raise ConfigError(f"account {account_id!r} is not in {config.accounts_file(self.layout)}")
        return accounts[account_id]

    def credentials(self, account: Account) -> tuple[ZohoCredentials, str]:
        return config.load_credentials(self.layout, account)

    def profiles(self) -> list[Profile]:
        return self.profiles_repo.all()

    def profile(self, ref: str | int) -> Profile:
        """By id, by 'account/name', or by a name that is unique."""
        text = str(ref).strip()
        profiles = self.profiles()
        matches = [p for p in profiles if str(p.id) == text or p.key.lower() == text.lower()]
        matches = matches or [p for p in profiles if text.lower() in (p.name.lower(), p.name.split(" → ")[0].lower())]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(f"{p.id} ({p.key})" for p in profiles) or "none yet"
        why = "is ambiguous" if matches else "matches no profile"
        raise UnknownProfile(f"{ref!r} {why}; profiles: {known}")

    def add_profile(self, account_id: str, object_type: str, audience_id: str, name: str | None = None,
                    options: Options | None = None, segments: Segments | None = None, actor: str = "") -> Profile:
        account = self.account(account_id)
        kind = ObjectType.parse(object_type)

        def check(existing: list[Profile]) -> None:
            refusal = refusal_for_new_profile(account.plan, account.addons,
                                              sum(p.account == account.id for p in existing))
            if refusal:
                raise PlanLimitReached(f"cannot add a profile to {account.name}: {refusal}")

        profile = Profile(id=0, account=account.id, name=name or kind.value, object_type=kind,
                          audience_id=audience_id, options=options or Options(), segments=segments or Segments(),
                          created_at=self.now())
        profile = self.profiles_repo.add(profile, check)
        self._audit(actor, "profile.add", profile, {"object": kind.value, "audience": audience_id})
        return profile

    def set_option(self, ref: str | int, option: str, value: str, actor: str = "") -> Profile:
        profile = self.profile(ref)
        if option not in OPTION_NAMES:
            raise ValueError(f"unknown option {option!r}; one of {', '.join(OPTION_NAMES)}")
        attr = OPTION_NAMES[option]
        if attr == "schedule_minutes":
            parsed = None if value in ("manual", "off") else int(value)
            if parsed is not None and parsed < 1:
                raise ValueError("schedule is a number of minutes (≥ 1) or 'manual'")
        elif value.lower() in ("on", "true", "yes", "1"):
            parsed = True
        elif value.lower() in ("off", "false", "no", "0"):
            parsed = False
        else:
            raise ValueError(f"{option} takes on or off, not {value!r}")
        if attr == "delete_converted_leads" and profile.object_type is not ObjectType.LEADS:
            raise ValueError("'Delete converted Leads' applies to Leads profiles only")
        before = getattr(profile.options, attr)
        profile.options = replace(profile.options, **{attr: parsed})
        self.profiles_repo.save(profile)
        self._audit(actor, "option.set", profile, {"option": option, "from": before, "to": parsed})
        return profile

    def _audit(self, actor: str, action: str, profile: Profile | None, details: dict) -> None:
        self.audit.record({"ts": self.now(), "actor": actor or whoami(), "action": action,
                           "profile": profile.key if profile else None, "details": details})

    # runs ---------------------------------------------------------------------------------
    def transport_for(self, account: Account, stack: ExitStack) -> httpx.AsyncBaseTransport | None:
        """Real accounts use the network; sandbox ones the in-process fakes (or a loopback server)."""
        if not account.sandbox:
            return None
        if self.sandbox_port:
            return LoopbackTransport(self.sandbox_port)
        sandbox = self.sandbox
        stack.enter_context(sandbox.session())
        return sandbox.transport()

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox(self.layout.sandbox, self.clock)
        return self._sandbox

    async def run_async(self, ref: str | int, request: RunRequest | None = None,
                        on_progress: ProgressFn | None = None, cancel=None) -> dict:
        profile = self.profile(ref)
        request = request or RunRequest()
        if not request.dry_run:
            self._audit(request.actor, "run.start", profile, {"full": request.full, "record": request.record,
                                                              "trigger": request.trigger})
        return await ProfileRunner(self, profile, request, on_progress).execute(cancel)

    def run(self, ref: str | int, request: RunRequest | None = None, on_progress: ProgressFn | None = None,
            cancel=None) -> dict:
        return asyncio.run(self.run_async(ref, request, on_progress, cancel))

    def mark_abandoned(self, held_by_caller: int | None = None) -> bool:
        """Runs marked running whose process is gone (their run lock is free) become 'abandoned'.
        held_by_caller: a profile whose run lock the caller holds; only that profile is checked.
        Returns whether any run was marked."""
        from filelock import FileLock, Timeout

        found = False
        for run in self.runs.all():
            if run["status"] != "running" or held_by_caller not in (None, run["profile_id"]):
                continue
            if held_by_caller is None:
                lock = FileLock(self.layout.locks / f"run-{run['profile_id']}.lock")
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    continue  # still running somewhere
                lock.release()  # free: the process that held it is gone
            self.runs.update(run["doc_id"], {"status": "abandoned", "finished_at": self.now()})
            found = True
        return found

    def last_run(self, profile: Profile) -> dict | None:
        runs = [r for r in self.runs.for_profile(profile.id) if not r.get("dry_run")]
        return runs[0] if runs else None

    def run_events(self, run_id: str, outcome: str | None = None) -> list[dict]:
        """Every event of one run (the drill-down behind each count)."""
        run = self.runs.get(run_id)
        if run is None:
            raise LookupError(f"no run {run_id!r}")
        if run.get("dry_run"):
            events = run.get("dry_events", [])
        else:
            first, last = run.get("segments") or (1, max(self._segments(run["profile_id"]), default=0))
            events = [e for number in range(first, last + 1)
                      for e in read_segment(self.layout.store, run["profile_id"], number) if e["run"] == run_id]
        return [e for e in events if outcome is None or e["action"] == outcome]

    def _segments(self, profile_id: int) -> list[int]:
        return segment_numbers(self.layout.history_dir(profile_id))

    # history and triage ------------------------------------------------------------------------
    def history(self, key: str) -> list[dict]:
        """A record's flow history across profiles, oldest first, by email or CRM id."""
        key = key.strip()
        email = normalize_email(key) if "@" in key else None
        crm_id = None if email else key
        refs = self.history_keys.refs(email=email, crm_id=crm_id)
        events = self._events_in(refs, email, {crm_id} if crm_id else set())
        # follow the other key once: a CRM id's email, an email's CRM ids
        emails = {e["email"] for e in events if e.get("email")} - {email}
        crm_ids = {e["crm_id"] for e in events if e.get("crm_id")} - {crm_id}
        more = set()
        for other in emails:
            more |= self.history_keys.refs(email=other)
        for other in crm_ids:
            more |= self.history_keys.refs(crm_id=other)
        if more - refs:
            events = self._events_in(refs | more, email or next(iter(emails), None), crm_ids | {crm_id} - {None})
        unique = {(e["run"], e["ts"], e["action"], e.get("crm_id"), e.get("email"), e.get("tag"), e["dir"]): e
                  for e in events}
        return sorted(unique.values(), key=lambda e: (e["ts"], e.get("seq", 0)))

    def _events_in(self, refs: set, email: str | None, crm_ids: set) -> list[dict]:
        out = []
        for profile_id, number in sorted(refs):
            for event in read_segment(self.layout.store, profile_id, number):
                if (email and event.get("email") == email) or event.get("crm_id") in crm_ids:
                    out.append(event)
        return out

    def skipped(self, ref: str | int) -> list[dict]:
        """A profile's skipped records, no_email first."""
        return self.skipped_window(ref)[0]

    def skipped_window(self, ref: str | int, offset: int = 0, limit: int | None = None, needle: str = ""
                       ) -> tuple[list[dict], int]:
        """A window of the skipped records and how many match `needle` (the console pages through it)."""
        from .store.index import read_skipped

        return read_skipped(self.layout.profile_dir(self.profile(ref).id), offset, limit, needle)

    def converted_tracked(self, ref: str | int) -> int:
        """Converted leads a Leads profile still tracks (as of its last run)."""
        return int(self.cursors.get(self.profile(ref).id).get("converted_tracked") or 0)

    def unmapped(self, ref: str | int) -> dict:
        profile = self.profile(ref)
        return self.cursors.get(profile.id).get("unmapped") or {"crm_fields": [], "merge_fields": [],
                                                               "note": "no run yet"}

    def overview(self) -> list[dict]:
        """Accounts with plan usage and their profiles with the last run: the home screen's data.
        Polled every second by the console, so each store file is read once here."""
        self.mark_abandoned()
        profiles = self.profiles()
        latest: dict[int, dict] = {}
        for run in self.runs.all():
            if not run.get("dry_run") and run["doc_id"] > latest.get(run["profile_id"], {}).get("doc_id", 0):
                latest[run["profile_id"]] = run
        out = []
        for account in self.accounts().values():
            mine = [p for p in profiles if p.account == account.id]
            out.append({"account": account, "plan": plan_label(account.plan, account.addons), "used": len(mine),
                        "limit": profile_limit(account.plan, account.addons),
                        "profiles": [{"profile": p, "last_run": latest.get(p.id),
                                      "converted_tracked": int(self.cursors.get(p.id).get("converted_tracked") or 0)}
                                     for p in mine]})
        return out

    # sandbox --------------------------------------------------------------------------------
    def reset_sandbox(self, records: int = 2000, seed: int = 7, leads: int | None = None) -> dict:
        """Fresh demo accounts, profiles and sandbox data; the sandbox profiles' history is cleared."""
        from .sandbox.reset import reset_sandbox

        return reset_sandbox(self, records, seed, leads)

    def iter_due(self) -> Iterator[Profile]:
        """Profiles whose schedule says they are due now."""
        from .sync.schedule import due_profiles

        return due_profiles(self)
