"""Pure per-record decisions of the sync rules; no I/O, so every rule is unit-testable."""
from __future__ import annotations

from dataclasses import dataclass

from ..model import BASIC_MAPPINGS, Mapping, Reason
from .identity import invalid_email_reason, normalize_email

LAST_NAME_FALLBACK = "Unknown"  # Zoho requires Last_Name; a member without LNAME gets this
CRM_TAG_PREFIX = {"campaign": "Zoho Campaign", "view": "Zoho View"}


@dataclass(frozen=True)
class EmailVerdict:
    email: str
    reason: Reason | None = None
    detail: str = ""


def judge_email(raw: object) -> EmailVerdict:
    """The normalised email of a CRM record, or why it cannot be synced."""
    if raw is not None and not isinstance(raw, str):
        return EmailVerdict("", Reason.INVALID_EMAIL, f"the email field holds a {type(raw).__name__}, not text")
    email = normalize_email(raw)
    if not email:
        return EmailVerdict("", Reason.NO_EMAIL, "the record has no email address")
    problem = invalid_email_reason(email)
    if problem:
        return EmailVerdict(email, Reason.INVALID_EMAIL, problem)
    return EmailVerdict(email)


def created_order(doc: dict) -> tuple[str, int]:
    """Earliest-created wins an email; ties go to the lower CRM id."""
    return (doc.get("created") or doc.get("Created_Time") or "", int(doc.get("crm_id") or doc.get("id") or 0))


def mappings_in_force(mappings: list[Mapping], field_mapping: bool) -> list[Mapping]:
    """Basic fields always flow to new members; the full mapping only when Field Mapping is on."""
    return list(mappings) if field_mapping else list(BASIC_MAPPINGS)


def text_value(value: object) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "Yes" if value else ""
    return str(value)


def merge_values(record: dict, mappings: list[Mapping]) -> dict[str, str]:
    """The merge fields a CRM record maps to."""
    return {m.merge_tag: text_value(record.get(m.crm_field)) for m in mappings}


def crm_values(member: dict, mappings: list[Mapping]) -> dict[str, str]:
    """The CRM fields a member maps to (used when creating or updating a CRM record)."""
    merge = member.get("merge_fields") or {}
    return {m.crm_field: text_value(merge.get(m.merge_tag)) for m in mappings}


def changes(old: dict | None, new: dict) -> dict[str, list]:
    """Field -> [old, new] for every value that differs."""
    old = old or {}
    return {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}


def new_crm_record(member: dict, mappings: list[Mapping]) -> dict:
    """A CRM record for a member that has none; missing last name gets the documented fallback."""
    values = {k: v for k, v in crm_values(member, mappings).items() if v}
    values.setdefault("Last_Name", LAST_NAME_FALLBACK)
    values["Email"] = member["email_address"].strip()
    values["Email_Opt_Out"] = member.get("status") in ("unsubscribed", "cleaned")
    return values


def new_member_status(record: dict) -> str:
    """A CRM record that opted out is added as unsubscribed, never subscribed."""
    return "unsubscribed" if record.get("Email_Opt_Out") is True else "subscribed"


def tag_name(kind: str, name: str) -> str:
    """How a selection is named under the audience, so an operator recognises its source."""
    return f"{CRM_TAG_PREFIX[kind]}: {name}"[:100]


def member_opts_out(status: str | None) -> bool:
    return status in ("unsubscribed", "cleaned")
