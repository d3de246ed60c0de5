"""Phase CRM → Mailchimp: read changed CRM records, decide, write members in batches, tag."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..connectors.http import ApiError, TransientError
from ..model import Direction, Outcome, Reason
from ..rules.identity import normalize_email
from ..rules.records import (changes, created_order, judge_email, mappings_in_force, merge_values,
                             new_member_status)
from .context import RunContext
from .watermark import Watermark

D = Direction.CRM_TO_MC
BATCH = 500


@dataclass
class Selection:
    kind: str  # "campaign" | "view"
    id: str
    tag: str
    segment_id: str = ""


@dataclass
class MemberWrite:
    crm_id: str
    email: str
    address: str
    values: dict[str, str]
    status_if_new: str
    old: dict | None


@dataclass
class TagOps:
    add: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # tag -> [(crm_id, email)]
    remove: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def queue(self, ops: dict, tag: str, crm_id: str, email: str) -> None:
        ops.setdefault(tag, []).append((crm_id, email))


class CrmToMailchimp:
    def __init__(self, ctx: RunContext, fields: list[str], selections: list[Selection]) -> None:
        self.ctx, self.fields, self.selections = ctx, fields, selections
        self.profile = ctx.profile
        self.mappings = mappings_in_force(self.profile.mappings, self.profile.options.field_mapping)
        self.writes: list[MemberWrite] = []
        self.tags = TagOps()
        self.unsubscribes: list[tuple[str, str, str]] = []
        self.memberships: dict[str, set[str]] = {}
        self.retry_ids: set[str] = set()
        self.watermark = Watermark(None, since_is_inclusive=False)
        self.read_began: str | None = None

    # reading ------------------------------------------------------------------------
    async def read_memberships(self, since: str | None) -> None:
        zoho, module = self.ctx.zoho, self.profile.object_type.value
        for selection in self.selections:
            pages = (zoho.campaign_members(selection.id, module, since) if selection.kind == "campaign"
                     else zoho.records(module, ["Email"], since=since, cvid=selection.id))
            async for page in pages:
                self._note_read_began()
                for row in page:
                    self.memberships.setdefault(row["id"], set()).add(selection.tag)

    async def run(self, cursor: dict, ids: list[str] | None = None, sweep_converted: bool = False) -> dict:
        """Returns the new cursor for this direction. sweep_converted: also revisit every converted lead,
        changed or not (the first run after "Delete converted Leads" is turned on)."""
        ctx = self.ctx
        self.watermark = Watermark(None if ids else cursor, since_is_inclusive=False)  # If-Modified-Since: after
        since = self.watermark.since
        ctx.zoho.http.server_time = None  # the first answer's Date tells when this phase's read began
        await self.read_memberships(None if ids else since)
        converted = "both" if self.profile.object_type.value == "Leads" else None
        module = self.profile.object_type.value
        batches = []  # (pages, whether the cursor applies)
        if sweep_converted and not ids:
            batches.append((ctx.zoho.records(module, self.fields, converted="true"), False))
        retry = [i for i in ctx.state.get("retry_ids", []) if not ids]
        for start in range(0, len(retry), 100):  # records whose last failure was worth retrying
            batches.append((ctx.zoho.records(module, self.fields, converted=converted,
                                             ids=retry[start:start + 100]), False))
        batches.append((ctx.zoho.records(module, self.fields, since=None if ids else since, converted=converted,
                                         ids=ids), True))
        seen: set[str] = set()
        for pages, after_cursor in batches:
            async for page in pages:
                ctx.check_cancel()
                self._note_read_began()
                for record in page:
                    if record["id"] in seen or (after_cursor and self.watermark.already_read(
                            record.get("Modified_Time") or "", record["id"], record)):
                        continue
                    seen.add(record["id"])
                    await self.decide(record)
                if len(self.writes) >= BATCH:
                    await self.flush()
                ctx.report()
        await self.flush(final=True)
        ctx.state["retry_ids"] = sorted(self.retry_ids)
        return cursor if ids else self.watermark.advanced(self.read_began or ctx.state["phase_started"])

    def _note_read_began(self) -> None:
        if self.read_began is None:
            self.read_began = self.ctx.zoho.http.server_now()

    # deciding -----------------------------------------------------------------------
    async def decide(self, record: dict) -> None:
        ctx, index = self.ctx, self.ctx.index
        crm_id = record["id"]
        ctx.touched_in_crm_phase.add(crm_id)
        name = " ".join(str(record.get(k) or "") for k in ("First_Name", "Last_Name")).strip()
        owner = (record.get("Owner") or {}).get("name") if isinstance(record.get("Owner"), dict) else None
        previous = index.record(crm_id) or {}
        verdict = judge_email(record.get("Email"))
        doc = {"crm_id": crm_id, "email": verdict.email, "name": name, "owner": owner,
               "created": record.get("Created_Time"), "tags": previous.get("tags", []),
               "pushed": previous.get("pushed"), "opt_out": record.get("Email_Opt_Out") is True,
               "unsubscribed": previous.get("unsubscribed", False), "converted": record.get("Converted__s") is True,
               "filled": ctx.crm_bits.encode(k for k, v in record.items() if v not in (None, "", [], {}, False)
                                             and k != "id")}
        base = {"crm_id": crm_id, "email": verdict.email or None, "name": name, "owner": owner}
        if previous.get("email") and previous["email"] != verdict.email:
            self._release_email(previous["email"], crm_id)
        if record.get("Converted__s") is True:
            if self.profile.options.delete_converted_leads:
                await self._converted(record, previous, base)
                return
            ctx.stats[D].converted_still_tracked += 1
        if verdict.reason:
            index.put_record(crm_id, doc | {"status": "skipped", "reason": verdict.reason.value})
            self._untag_all(crm_id, previous)
            ctx.outcome(D, Outcome.SKIPPED, reason=verdict.reason.value, detail=verdict.detail, **base)
            return
        holder = index.email_owner(verdict.email)
        if holder and holder.get("crm_id") not in (None, crm_id) and not holder.get("converted_to"):
            if created_order(holder) <= created_order(doc):
                index.put_record(crm_id, doc | {"status": "skipped", "reason": Reason.DUPLICATE_EMAIL.value,
                                                "winner": holder["crm_id"]})
                ctx.outcome(D, Outcome.SKIPPED, reason=Reason.DUPLICATE_EMAIL.value, winner=holder["crm_id"],
                            detail=f"CRM record {holder['crm_id']} has this email and was created first", **base)
                return
            self._demote(holder["crm_id"], crm_id)
        index.put_email(verdict.email, {"crm_id": crm_id, "created": doc["created"]})
        index.put_record(crm_id, doc | {"status": "synced"})
        values = merge_values(record, self.mappings)
        self._queue_consent(record, doc, base)
        if doc["pushed"] == values:
            ctx.outcome(D, Outcome.UNCHANGED, **base)
            self._queue_tags(crm_id, verdict.email)
            return
        address = record["Email"].strip() if isinstance(record.get("Email"), str) else verdict.email
        self.writes.append(MemberWrite(crm_id, verdict.email, address, values, new_member_status(record),
                                       doc["pushed"]))

    def _release_email(self, email: str, crm_id: str) -> None:
        holder = self.ctx.index.email_owner(email)
        if holder and holder.get("crm_id") == crm_id:
            self.ctx.index.drop_email(email)

    def _demote(self, loser_id: str, winner_id: str) -> None:
        """An earlier-created record took the email over: the former holder becomes the duplicate."""
        loser = self.ctx.index.record(loser_id)
        if loser:
            self.ctx.index.put_record(loser_id, loser | {"status": "skipped", "reason": Reason.DUPLICATE_EMAIL.value,
                                                         "winner": winner_id})
            self.ctx.event(D, "skipped", crm_id=loser_id, email=loser.get("email"),
                           reason=Reason.DUPLICATE_EMAIL.value, winner=winner_id,
                           detail=f"CRM record {winner_id} has this email and was created earlier")

    async def _converted(self, record: dict, previous: dict, base: dict) -> None:
        """'Delete converted Leads': untag, stop tracking, remember which Contact it became."""
        ctx, crm_id, email = self.ctx, record["id"], base["email"]
        contact_id = None
        if email:
            contacts = await ctx.zoho.search_email("Contacts", email)
            contact_id = contacts[0]["id"] if contacts else None
            ctx.index.put_email(email, {"crm_id": None, "converted_from": crm_id, "converted_to": contact_id})
        self._untag_all(crm_id, previous)
        ctx.index.drop_record(crm_id)
        ctx.stats[D].converted += 1
        ctx.outcome(D, Outcome.SKIPPED, reason=Reason.CONVERTED_LEAD.value, contact_id=contact_id,
                    detail=f"converted to Contact {contact_id or '(not found)'}; removed from this Leads profile, "
                           "the member is kept", **base)

    def _queue_consent(self, record: dict, doc: dict, base: dict) -> None:
        if (doc["opt_out"] and self.profile.options.unsubscribe_on_crm_opt_out and not doc["unsubscribed"]
                and doc["pushed"] is not None):
            self.unsubscribes.append((record["id"], base["email"], record["Email"].strip()))

    def _queue_tags(self, crm_id: str, email: str) -> None:
        current = set((self.ctx.index.record(crm_id) or {}).get("tags", []))
        desired = self.memberships.get(crm_id, set())
        for tag in sorted(desired - current):
            self.tags.queue(self.tags.add, tag, crm_id, email)
        for tag in sorted(current - desired):
            self.tags.queue(self.tags.remove, tag, crm_id, email)

    def _untag_all(self, crm_id: str, previous: dict) -> None:
        for tag in previous.get("tags", []):
            self.tags.queue(self.tags.remove, tag, crm_id, previous.get("email") or "")

    # writing ------------------------------------------------------------------------
    async def flush(self, final: bool = False) -> None:
        """Full calls of 500 members and of 500 tag changes; remainders wait for the end of the phase."""
        ready = len(self.writes) if final else len(self.writes) - len(self.writes) % BATCH
        writes, self.writes = self.writes[:ready], self.writes[ready:]
        for start in range(0, len(writes), BATCH):
            await self._write_members(writes[start: start + BATCH])
        await self._write_unsubscribes()
        await self._write_tags(final)
        self.ctx.flush_events()

    async def _write_members(self, chunk: list[MemberWrite]) -> None:
        ctx = self.ctx
        update = self.profile.options.field_mapping
        if ctx.dry_run:
            for w in chunk:
                known = ctx.index.member(w.email)
                outcome = Outcome.CREATED if not known else (Outcome.UPDATED if update else Outcome.UNCHANGED)
                self._settle(w, outcome, {})
            return
        body = [{"email_address": w.address, "status_if_new": w.status_if_new, "merge_fields": w.values}
                for w in chunk]
        try:
            answer = await ctx.mailchimp.batch_subscribe(self.profile.audience_id, body, update_existing=update)
        except ApiError as exc:
            for w in chunk:
                self._failed(w, exc)
            return
        created = {normalize_email(m.get("email_address")) for m in answer.get("new_members") or []}
        updated = {normalize_email(m.get("email_address")) for m in answer.get("updated_members") or []}
        errors = {normalize_email(e.get("email_address")): e for e in answer.get("errors") or [] if isinstance(e, dict)}
        for w in chunk:
            if w.email in created:
                self._settle(w, Outcome.CREATED, {})
            elif w.email in updated:
                self._settle(w, Outcome.UPDATED, {})
            elif w.email in errors:
                self._rejected(w, errors[w.email])
            else:
                self._failed(w, ApiError("Mailchimp", "batch answer has no result for this email"))

    def _settle(self, w: MemberWrite, outcome: Outcome, extra: dict) -> None:
        ctx = self.ctx
        doc = ctx.index.record(w.crm_id) or {}
        ctx.index.put_record(w.crm_id, doc | {"pushed": w.values})
        member = ctx.index.member(w.email) or {"status": w.status_if_new}
        ctx.index.put_member(w.email, member | {"merge": w.values})
        base = {"crm_id": w.crm_id, "email": w.email, "name": doc.get("name"), "owner": doc.get("owner")}
        if outcome is Outcome.UNCHANGED:
            ctx.outcome(D, outcome, detail="member exists; Field Mapping is off, so its fields are not updated",
                        **base, **extra)
        else:
            ctx.outcome(D, outcome, target="mailchimp",
                        changes=changes(None if outcome is Outcome.CREATED else (w.old or member.get("merge")),
                                        w.values), **base, **extra)
        self._queue_tags(w.crm_id, w.email)

    def _rejected(self, w: MemberWrite, error: dict) -> None:
        text = str(error.get("error") or "")
        if error.get("error_code") == "ERROR_CONTACT_EXISTS":
            self._settle(w, Outcome.UNCHANGED, {})
            return
        base = {"crm_id": w.crm_id, "email": w.email}
        if "looks fake or invalid" in text or "valid email" in text:
            self._mark_skipped(w, Reason.INVALID_EMAIL)
            self.ctx.outcome(D, Outcome.SKIPPED, reason=Reason.INVALID_EMAIL.value,
                             detail=f"rejected by Mailchimp: {text}", **base)
        elif "compliance state" in text or "permanently deleted" in text:
            self._mark_skipped(w, Reason.COMPLIANCE_STATE)
            self.ctx.outcome(D, Outcome.SKIPPED, reason=Reason.COMPLIANCE_STATE.value,
                             detail=f"Mailchimp: {text}", **base)
        else:
            self.ctx.outcome(D, Outcome.FAILED, error={"code": error.get("error_code"), "message": text,
                                                        "api": "Mailchimp"}, **base)
            if "very recently" in text:
                self.retry_ids.add(w.crm_id)

    def _mark_skipped(self, w: MemberWrite, reason: Reason) -> None:
        doc = self.ctx.index.record(w.crm_id) or {}
        self.ctx.index.put_record(w.crm_id, doc | {"status": "skipped", "reason": reason.value})

    def _failed(self, w: MemberWrite, exc: ApiError) -> None:
        if isinstance(exc, TransientError):
            self.retry_ids.add(w.crm_id)
        self.ctx.outcome(D, Outcome.FAILED, crm_id=w.crm_id, email=w.email,
                         error={"code": exc.code or exc.status, "message": exc.detail, "api": exc.api,
                                "retry": isinstance(exc, TransientError)})

    async def _write_unsubscribes(self) -> None:
        ctx, todo, self.unsubscribes = self.ctx, self.unsubscribes, []
        for start in range(0, len(todo), BATCH):
            chunk = todo[start: start + BATCH]
            if not ctx.dry_run:
                body = [{"email_address": address, "status": "unsubscribed"} for _, _, address in chunk]
                try:
                    await ctx.mailchimp.batch_subscribe(self.profile.audience_id, body, update_existing=True)
                except ApiError as exc:
                    for crm_id, email, _ in chunk:
                        ctx.event(D, "failed", crm_id=crm_id, email=email,
                                  error={"message": exc.detail, "api": exc.api}, detail="unsubscribe failed")
                    continue
            for crm_id, email, _ in chunk:
                doc = ctx.index.record(crm_id) or {}
                ctx.index.put_record(crm_id, doc | {"unsubscribed": True})
                ctx.stats[D].opt_outs += 1
                ctx.event(D, "unsubscribed", crm_id=crm_id, email=email, target="mailchimp",
                          detail="opted out in CRM; 'Unsubscribe in marketing when opted out in CRM' is on")

    async def _write_tags(self, final: bool) -> None:
        """Full calls of 500 as they fill up; the remainders at the end of the phase."""
        ctx = self.ctx
        segment_ids = {s.tag: s.segment_id for s in self.selections} | ctx.state.get("tag_ids", {})
        for ops, adding in ((self.tags.add, True), (self.tags.remove, False)):
            for tag, members in ops.items():
                ready = len(members) if final else len(members) - len(members) % BATCH
                chunks = [members[start: start + BATCH] for start in range(0, ready, BATCH)]
                del members[:ready]
                for chunk in chunks:
                    emails = [email for _, email in chunk if email]
                    if not ctx.dry_run and emails and segment_ids.get(tag):
                        try:
                            await ctx.mailchimp.change_tag(self.profile.audience_id, segment_ids[tag],
                                                           emails if adding else [], [] if adding else emails)
                        except ApiError as exc:
                            for crm_id, email in chunk:
                                ctx.event(D, "failed", crm_id=crm_id, email=email, tag=tag,
                                          error={"message": exc.detail, "api": exc.api})
                            continue
                    for crm_id, email in chunk:
                        doc = ctx.index.record(crm_id)
                        if doc is not None:
                            tags = set(doc.get("tags", []))
                            tags = tags | {tag} if adding else tags - {tag}
                            ctx.index.put_record(crm_id, doc | {"tags": sorted(tags)})
                        setattr(ctx.stats[D], "tagged" if adding else "untagged",
                                getattr(ctx.stats[D], "tagged" if adding else "untagged") + 1)
                        ctx.event(D, "tagged" if adding else "untagged", crm_id=crm_id, email=email or None, tag=tag)
