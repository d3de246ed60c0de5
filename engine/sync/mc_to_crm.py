"""Phase Mailchimp → CRM: members without a CRM record are created; consent and mapped fields flow back."""
from __future__ import annotations

from dataclasses import dataclass

from ..connectors.http import ApiError, TransientError
from ..model import Direction, Outcome, Reason
from ..rules.identity import invalid_email_reason, normalize_email
from ..rules.records import (changes, crm_values, mappings_in_force, member_opts_out, new_crm_record,
                             text_value)
from .context import RunContext
from .watermark import Watermark

D = Direction.MC_TO_CRM
BATCH = 100


@dataclass
class CrmWrite:
    email: str
    values: dict
    crm_id: str | None  # None: create
    old: dict | None
    reason: str


class MailchimpToCrm:
    def __init__(self, ctx: RunContext, neighbours=lambda: ({}, None)) -> None:
        """neighbours() -> (email -> name of another profile on this audience that tracks the email,
        the Contacts profile sharing this Leads profile's audience or None); asked only when needed."""
        self.ctx, self.profile = ctx, ctx.profile
        self._neighbours_fn = neighbours
        self._neighbours: tuple[dict[str, str], str | None] | None = None
        self.mappings = mappings_in_force(self.profile.mappings, self.profile.options.field_mapping)
        self.writes: list[CrmWrite] = []
        self.watermark = Watermark(None, since_is_inclusive=True)

    async def run(self, cursor: dict, members: list[dict] | None = None) -> dict:
        ctx = self.ctx
        self.watermark = Watermark(None if members is not None else cursor, since_is_inclusive=True)
        ctx.mailchimp.http.server_time = None  # the first answer's Date tells when this phase's read began
        read_began = None
        if members is not None:
            await self.handle_page(members)
        else:
            async for page in ctx.mailchimp.members(self.profile.audience_id, self.watermark.since):
                ctx.check_cancel()
                read_began = read_began or ctx.mailchimp.http.server_now()
                await self.handle_page(page)
        await self.flush(final=True)
        if members is not None:
            return cursor
        return self.watermark.advanced(read_began or ctx.mailchimp.http.server_now() or ctx.state["phase_started"])

    async def handle_page(self, page: list[dict]) -> None:
        for member in page:
            email = normalize_email(member.get("email_address"))
            if self.watermark.already_read(member.get("last_changed") or "", email, member):
                continue
            if email:
                self.decide(member, email)
            if len(self.writes) >= BATCH:
                await self.flush()
        self.ctx.report()

    def decide(self, member: dict, email: str) -> None:
        ctx, index = self.ctx, self.ctx.index
        status = member.get("status")
        merge = merge_values_of(member, self.mappings)
        known = index.member(email) or {}
        index.put_member(email, known | {"status": status, "merge": merge, "filled": ctx.merge_bits.encode(
            k for k, v in (member.get("merge_fields") or {}).items() if v not in (None, "", {}))})
        base = {"email": email, "name": member.get("full_name") or " ".join(
            str((member.get("merge_fields") or {}).get(k) or "") for k in ("FNAME", "LNAME")).strip() or None}
        holder = index.email_owner(email)
        if holder and holder.get("converted_to") is not None or (holder and holder.get("converted_from")):
            ctx.outcome(D, Outcome.SKIPPED, reason=Reason.CONVERTED_LEAD.value, contact_id=holder.get("converted_to"),
                        crm_id=holder.get("converted_from"),
                        detail="this email's Lead was converted; the Contacts profile syncs it now", **base)
            return
        if holder and holder.get("crm_id"):
            self._existing(member, email, holder["crm_id"], merge, base)
            return
        problem = invalid_email_reason(email)
        if problem:
            ctx.outcome(D, Outcome.SKIPPED, reason=Reason.INVALID_EMAIL.value, detail=problem, **base)
            return
        if self._neighbours is None:
            self._neighbours = self._neighbours_fn()
        tracked, contacts_profile = self._neighbours
        other = tracked.get(email)
        if other:
            ctx.outcome(D, Outcome.SKIPPED, reason=Reason.OWNED_BY_OTHER_PROFILE.value,
                        detail=f"profile {other} on the same audience syncs this email", **base)
            return
        if contacts_profile:
            ctx.outcome(D, Outcome.SKIPPED, reason=Reason.LEFT_TO_CONTACTS_PROFILE.value,
                        detail=f"profile {contacts_profile} shares this audience and creates its new "
                               "members as Contacts", **base)
            return
        if status == "cleaned":
            ctx.outcome(D, Outcome.SKIPPED, reason=Reason.MEMBER_CLEANED.value,
                        detail="cleaned members are never created in CRM", **base)
            return
        if status == "archived":
            ctx.outcome(D, Outcome.SKIPPED, reason=Reason.MEMBER_ARCHIVED.value,
                        detail="archived members are never created in CRM", **base)
            return
        self.writes.append(CrmWrite(email, new_crm_record(member, self.mappings), None, None,
                                    "member of the Main Audience with no CRM record"))

    def _existing(self, member: dict, email: str, crm_id: str, merge: dict, base: dict) -> None:
        ctx = self.ctx
        record = ctx.index.record(crm_id) or {}
        update: dict = {}
        if member_opts_out(member.get("status")) and not record.get("opt_out"):
            update["Email_Opt_Out"] = True
        mapped_change = (self.profile.options.field_mapping and crm_id not in ctx.touched_in_crm_phase
                         and record.get("pushed") is not None and merge != record.get("pushed"))
        if mapped_change:
            wanted = crm_values(member, self.mappings)
            update |= {k: v for k, v in wanted.items() if v or k != "Last_Name"}
        if not update:
            ctx.outcome(D, Outcome.UNCHANGED, crm_id=crm_id, **base)
            return
        if record.get("converted"):
            ctx.outcome(D, Outcome.SKIPPED, crm_id=crm_id, reason=Reason.CONVERTED_LEAD.value,
                        detail=f"would set {', '.join(sorted(update))}, but the Lead was converted and Zoho "
                               "refuses updates to converted records", **base)
            return
        reason = "unsubscribed in Mailchimp" if "Email_Opt_Out" in update and len(update) == 1 else \
            "changed in Mailchimp; Field Mapping is on"
        self.writes.append(CrmWrite(email, update | {"id": crm_id}, crm_id, record, reason))

    async def flush(self, final: bool = False) -> None:
        """Full upserts of 100; the remainder waits for the end of the phase."""
        ready = len(self.writes) if final else len(self.writes) - len(self.writes) % BATCH
        writes, self.writes = self.writes[:ready], self.writes[ready:]
        for start in range(0, len(writes), BATCH):
            await self._upsert(writes[start: start + BATCH])
        self.ctx.flush_events()

    async def _upsert(self, chunk: list[CrmWrite]) -> None:
        ctx, module = self.ctx, self.profile.object_type.value
        if ctx.dry_run:
            for w in chunk:
                self._settle(w, {"action": "update" if w.crm_id else "insert", "details": {"id": w.crm_id}})
            return
        try:
            results = await ctx.zoho.upsert(module, [w.values for w in chunk])
        except ApiError as exc:
            for w in chunk:
                ctx.outcome(D, Outcome.FAILED, email=w.email, crm_id=w.crm_id,
                            error={"code": exc.code or exc.status, "message": exc.detail, "api": exc.api,
                                   "retry": isinstance(exc, TransientError)})
            return
        for w, result in zip(chunk, results):
            if isinstance(result, dict) and result.get("status") == "success":
                self._settle(w, result)
            else:
                result = result if isinstance(result, dict) else {}
                ctx.outcome(D, Outcome.FAILED, email=w.email, crm_id=w.crm_id,
                            error={"code": result.get("code"), "message": result.get("message"),
                                   "details": result.get("details"), "api": "Zoho CRM"})

    def _settle(self, w: CrmWrite, result: dict) -> None:
        ctx = self.ctx
        crm_id = (result.get("details") or {}).get("id") or w.crm_id
        created = result.get("action") == "insert"
        values = {k: v for k, v in w.values.items() if k != "id"}
        record = dict(w.old or {})
        before = {m.crm_field: (record.get("pushed") or {}).get(m.merge_tag) for m in self.mappings}
        before["Email_Opt_Out"] = record.get("opt_out", False)
        pushed = dict(record.get("pushed") or {}) | {
            m.merge_tag: text_value(values.get(m.crm_field)) for m in self.mappings
            if created or m.crm_field in values}
        record |= {"crm_id": crm_id, "email": w.email, "status": "synced", "pushed": pushed,
                   "opt_out": values.get("Email_Opt_Out", record.get("opt_out", False)),
                   "created": record.get("created") or (result.get("details") or {}).get("Created_Time"),
                   "tags": record.get("tags", []), "name": record.get("name") or " ".join(
                       str(values.get(k) or "") for k in ("First_Name", "Last_Name")).strip()}
        if crm_id and not ctx.dry_run:
            ctx.index.put_record(crm_id, record)
            ctx.index.put_email(w.email, {"crm_id": crm_id, "created": record["created"]})
        if values.get("Email_Opt_Out") and not created:
            ctx.stats[D].opt_outs += 1
        ctx.outcome(D, Outcome.CREATED if created else Outcome.UPDATED, crm_id=crm_id, email=w.email,
                    target="crm", name=record["name"], detail=w.reason,
                    changes=changes(None if created else before, values))


def merge_values_of(member: dict, mappings) -> dict[str, str]:
    """The member's mapped merge values, in the same shape as what CRM → Mailchimp pushes."""
    merge = member.get("merge_fields") or {}
    return {m.merge_tag: text_value(merge.get(m.merge_tag)) for m in mappings}
