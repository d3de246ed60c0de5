"""One run of one profile: lock, read → decide → write in batches, checkpoint, record the run."""
from __future__ import annotations

import gc
import getpass
import os
import socket
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from ..connectors.http import ApiError
from ..connectors.mailchimp import MailchimpClient
from ..connectors.zoho import ZohoClient
from ..model import Direction, ObjectType, Profile
from ..rules.identity import invalid_email_reason, member_hash, normalize_email
from ..store.history import ProfileHistory, segments_after
from ..store.index import ProfileIndex
from .context import ProgressFn, RunCancelled, RunContext
from .crm_to_mc import CrmToMailchimp
from .fieldbits import FieldBits
from .mc_to_crm import MailchimpToCrm
from .prepare import fields_to_read, load_metadata, selections, unmapped_fields

if TYPE_CHECKING:
    from ..workspace import Workspace


class AlreadyRunning(Exception):
    def __init__(self, profile: Profile, run: dict | None) -> None:
        since = f" since {run['started_at']} by {run['actor']}" if run else ""
        super().__init__(f"profile {profile.key} is already running{since}")
        self.run = run


def whoami() -> str:
    """user@host, plus the SSH client address when there is one (for the audit log and run docs)."""
    ssh = os.environ.get("SSH_CLIENT", "").split(" ")[0]
    return f"{getpass.getuser()}@{socket.gethostname()}" + (f" (ssh {ssh})" if ssh else "")


@contextmanager
def collector_relaxed():
    """A run builds hundreds of thousands of long-lived acyclic dicts; with default thresholds the cyclic
    GC re-scanned them over and over (~35% of a 30k-record run, measured). Freeze what exists and
    collect the young generation rarely; HTTP objects still form cycles, so the GC stays on."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass
class RunRequest:
    full: bool = False
    dry_run: bool = False
    record: str | None = None
    trigger: str = "manual"
    actor: str = ""


class ProfileRunner:
    def __init__(self, ws: "Workspace", profile: Profile, request: RunRequest,
                 on_progress: ProgressFn | None = None) -> None:
        self.ws, self.profile, self.request = ws, profile, request
        self.user_progress = on_progress
        self.lock = FileLock(ws.layout.locks / f"run-{profile.id}.lock")
        self.run_doc_id = 0
        self.run_id = ws.new_run_id()
        self.last_saved = 0.0
        self.cancel = None

    def acquire(self) -> None:
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            running = [r for r in self.ws.runs.for_profile(self.profile.id) if r["status"] == "running"]
            raise AlreadyRunning(self.profile, running[0] if running else None) from None

    async def execute(self, cancel=None) -> dict:
        self.acquire()
        try:
            self._recover_abandoned()
            with collector_relaxed():
                return await self._run(cancel)
        finally:
            self.lock.release()

    def _recover_abandoned(self) -> None:
        """A 'running' run whose lock we now hold died: mark it and index any events it left."""
        if not self.ws.mark_abandoned(self.profile.id):
            return
        position = self.ws.cursors.get(self.profile.id).get("history_position")
        if position:
            for number, events in segments_after(self.ws.layout.store, self.profile.id, tuple(position)):
                for event in events:
                    self.ws.history_keys.note(event, (self.profile.id, number))
            self.ws.history_keys.flush()

    def _progress(self, update: dict) -> None:
        if self.user_progress:
            self.user_progress(update)
        now = time.monotonic()
        if now - self.last_saved >= 1.0:
            self.last_saved = now
            self.ws.runs.update(self.run_doc_id, {"phase": update["phase"], "stats": update["stats"],
                                                  "totals": update["totals"], "heartbeat_at": self.ws.now()})

    async def _run(self, cancel) -> dict:
        ws, profile, request = self.ws, self.profile, self.request
        account = ws.account(profile.account)
        started = ws.now()
        self.run_doc_id = ws.runs.start({
            "run_id": self.run_id, "profile_id": profile.id, "trigger": request.trigger,
            "actor": request.actor or whoami(), "pid": os.getpid(), "started_at": started, "heartbeat_at": started,
            "finished_at": None, "status": "running", "phase": "starting", "full": request.full,
            "dry_run": request.dry_run, "record": request.record, "stats": {}, "error": None})
        state = ws.cursors.get(profile.id)
        with ExitStack() as stack:
            transport = ws.transport_for(account, stack)
            zoho_creds, mc_key = ws.credentials(account)
            zoho = ZohoClient(zoho_creds, transport=transport, policy=ws.retry_policy)
            mailchimp = MailchimpClient(mc_key, transport=transport, policy=ws.retry_policy)
            index = ProfileIndex(ws.layout.profile_dir(profile.id), ws.layout.locks)
            history = None if request.dry_run else ProfileHistory(ws.layout.history_dir(profile.id), ws.history_keys)
            first_segment = history.number if history else 0
            ctx = RunContext(profile=profile, run_id=self.run_id, clock=ws.clock, zoho=zoho, mailchimp=mailchimp,
                             index=index, history=history, state=state, dry_run=request.dry_run, full=request.full,
                             only_record=request.record, on_progress=self._progress)
            if cancel is not None:
                ctx.cancel = cancel
            status, error = "succeeded", None
            try:
                await self._phases(ctx)
                failed = sum(s.failed for s in ctx.stats.values())
                status = "partial" if failed else "succeeded"
            except RunCancelled:
                status = "cancelled"
            except ApiError as exc:
                status, error = "failed", {"api": exc.api, "message": exc.detail, "status": exc.status}
            finally:
                await zoho.aclose()
                await mailchimp.aclose()
            requests = {"zoho": zoho.http.requests, "mailchimp": mailchimp.http.requests,
                        "zoho_minimum": zoho.http.minimum_requests(),
                        "mailchimp_minimum": mailchimp.http.minimum_requests(),
                        "retries": zoho.http.retries + mailchimp.http.retries, "token_refreshes": zoho.auth.refreshes}
        doc = {"status": status, "error": error, "finished_at": ws.now(), "phase": "done",
               "segments": [first_segment, history.number] if history else None,
               "stats": ctx.stats_doc(), "requests": requests, "heartbeat_at": ws.now()}
        if request.dry_run:
            doc["dry_events"] = ctx.dry_events[:5000]
        ws.runs.finish(self.run_doc_id, doc, profile.id)
        ctx.phase = "done"
        ctx.report(force=True)
        return ws.runs.get(self.run_id) or doc

    async def _phases(self, ctx: RunContext) -> None:
        profile, state, request = self.profile, ctx.state, self.request
        signature = [m.__dict__ for m in profile.mappings] + [profile.options.field_mapping]
        if request.full or state.get("mapping_signature") != signature:
            if state.get("mapping_signature") is not None or request.full:
                ctx.index.forget_pushed_values()
            state.pop(Direction.CRM_TO_MC.value, None)
            state.pop(Direction.MC_TO_CRM.value, None)
            state["mapping_signature"] = signature
        ctx.phase = "preparing"
        bits = state.setdefault("field_bits", {"crm": [], "merge": []})
        ctx.crm_bits, ctx.merge_bits = FieldBits(bits["crm"]), FieldBits(bits["merge"])
        meta = await load_metadata(ctx)
        chosen = await selections(ctx)
        record_ids, members = await self._single_record(ctx) if request.record else (None, None)

        ctx.phase = Direction.CRM_TO_MC.value
        state["phase_started"] = ctx.now()
        if not state.get(Direction.CRM_TO_MC.value) and not request.record:
            ctx.totals[Direction.CRM_TO_MC.value] = ctx.index.count("records") or None  # estimate: last full read
        crm_phase = CrmToMailchimp(ctx, fields_to_read(profile, meta), chosen)
        delete_converted = profile.object_type is ObjectType.LEADS and profile.options.delete_converted_leads
        sweep = delete_converted and not state.get("delete_converted_applied") and not request.record
        if record_ids != []:
            crm_cursor = await crm_phase.run(state.get(Direction.CRM_TO_MC.value, {}), ids=record_ids,
                                             sweep_converted=sweep)
        else:
            crm_cursor = state.get(Direction.CRM_TO_MC.value, {})
        if not request.dry_run and not request.record:
            state["delete_converted_applied"] = delete_converted
        self._checkpoint(ctx, Direction.CRM_TO_MC, crm_cursor)

        ctx.phase = Direction.MC_TO_CRM.value
        state["phase_started"] = ctx.now()
        mc_phase = MailchimpToCrm(ctx, self._neighbours)
        mc_cursor = await mc_phase.run(state.get(Direction.MC_TO_CRM.value, {}), members=members)
        self._checkpoint(ctx, Direction.MC_TO_CRM, mc_cursor)
        if ctx.index.loaded:  # nothing read, nothing changed: the last figures still stand
            state["unmapped"] = unmapped_fields(profile, meta, ctx.index, ctx.crm_bits, ctx.merge_bits)
            state["converted_tracked"] = sum(1 for _ in ctx.index.docs("records", b'"converted":true'))
        if ctx.index.recovered:
            self.ws.notices.append(ctx.index.recovered)
            for direction in Direction:  # the rebuilt index is complete only after a full re-match
                state.pop(direction.value, None)
        if not ctx.dry_run:
            self.ws.cursors.put(profile.id, state)

    def _neighbours(self) -> tuple[dict[str, str], str | None]:
        """Other profiles of this account on the same audience: the emails they track, and a Contacts one."""
        tracked: dict[str, str] = {}
        contacts = None
        for other in self.ws.profiles():
            if other.id == self.profile.id or (other.account, other.audience_id) != (
                    self.profile.account, self.profile.audience_id):
                continue
            if other.object_type is ObjectType.CONTACTS and self.profile.object_type is ObjectType.LEADS:
                contacts = other.name
            index = ProfileIndex(self.ws.layout.profile_dir(other.id), self.ws.layout.locks)
            tracked |= {email: other.name for email, doc in index.docs("emails") if doc.get("crm_id")}
        return tracked, contacts

    async def _single_record(self, ctx: RunContext) -> tuple[list[str], list[dict]]:
        """`--record`: the CRM ids and audience member behind one email or CRM id."""
        key = self.request.record.strip()
        module = self.profile.object_type.value
        if "@" in key:
            email = normalize_email(key)
            ids = [r["id"] for r in await ctx.zoho.search_email(module, email)]
        else:
            ids = [key]
            known = ctx.index.record(key)
            email = (known or {}).get("email", "")
        member = None
        if email and not invalid_email_reason(email):
            member = await ctx.mailchimp.member(self.profile.audience_id, member_hash(email))
        return ids, [member] if member else []

    def _checkpoint(self, ctx: RunContext, direction: Direction, cursor: dict) -> None:
        """Events are already durable; then the key index, the record index, and last the cursor."""
        if ctx.dry_run:
            return
        if ctx.history is not None:
            ctx.history.sync()
        self.ws.history_keys.flush()
        ctx.index.checkpoint()
        if not ctx.only_record:
            ctx.state[direction.value] = cursor
        if ctx.history is not None:
            ctx.state["history_position"] = list(ctx.history.position)
        self.ws.cursors.put(self.profile.id, ctx.state)
