"""Plain domain objects shared by every layer."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class ObjectType(StrEnum):
    CONTACTS = "Contacts"
    LEADS = "Leads"

    @classmethod
    def parse(cls, text: str) -> "ObjectType":
        for member in cls:
            if member.value.lower() == text.strip().lower():
                return member
        raise ValueError(f"object type must be contacts or leads, not {text!r}")


class Direction(StrEnum):
    CRM_TO_MC = "crm>mc"
    MC_TO_CRM = "mc>crm"


class Outcome(StrEnum):
    """What one read of one record ended as; the five add up to 'read'."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"


class Reason(StrEnum):
    """Why a record was skipped (first-class data, shown to operators)."""

    NO_EMAIL = "no_email"
    INVALID_EMAIL = "invalid_email"
    DUPLICATE_EMAIL = "duplicate_email"
    CONVERTED_LEAD = "converted_lead"
    MEMBER_CLEANED = "member_cleaned"
    MEMBER_ARCHIVED = "member_archived"
    COMPLIANCE_STATE = "compliance_state"
    OWNED_BY_OTHER_PROFILE = "owned_by_other_profile"
    LEFT_TO_CONTACTS_PROFILE = "left_to_contacts_profile"


@dataclass(frozen=True)
class Mapping:
    crm_field: str
    merge_tag: str


BASIC_MAPPINGS: tuple[Mapping, ...] = (
    Mapping("First_Name", "FNAME"),
    Mapping("Last_Name", "LNAME"),
    Mapping("Phone", "PHONE"),
)


@dataclass
class Segments:
    """Step 1 segmentation: each selection becomes a tag under the Main Audience."""

    campaigns: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    all_active_campaigns: bool = False


@dataclass
class Options:
    field_mapping: bool = False
    unsubscribe_on_crm_opt_out: bool = False
    delete_converted_leads: bool = False
    schedule_minutes: int | None = 15


OPTION_NAMES = {
    "field-mapping": "field_mapping",
    "unsubscribe-on-opt-out": "unsubscribe_on_crm_opt_out",
    "delete-converted-leads": "delete_converted_leads",
    "schedule": "schedule_minutes",
}


@dataclass
class Profile:
    id: int
    account: str
    name: str
    object_type: ObjectType
    audience_id: str
    options: Options = field(default_factory=Options)
    segments: Segments = field(default_factory=Segments)
    mappings: list[Mapping] = field(default_factory=lambda: list(BASIC_MAPPINGS))
    created_at: str = ""

    @property
    def key(self) -> str:
        return f"{self.account}/{self.name}"

    def to_doc(self) -> dict:
        doc = asdict(self)
        doc["object_type"] = self.object_type.value
        return doc

    @classmethod
    def from_doc(cls, doc: dict) -> "Profile":
        return cls(
            id=doc["id"],
            account=doc["account"],
            name=doc["name"],
            object_type=ObjectType(doc["object_type"]),
            audience_id=doc["audience_id"],
            options=Options(**doc.get("options", {})),
            segments=Segments(**doc.get("segments", {})),
            mappings=[Mapping(**m) for m in doc.get("mappings", [])],
            created_at=doc.get("created_at", ""),
        )


@dataclass
class Account:
    """A subscriber account: one Zoho org and one Mailchimp account (secrets live elsewhere)."""

    id: str
    name: str
    plan: str
    addons: list[str] = field(default_factory=list)
    zoho_dc: str = "US"
    sandbox: bool = False


@dataclass
class DirectionStats:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    tagged: int = 0
    untagged: int = 0
    converted: int = 0
    converted_still_tracked: int = 0
    opt_outs: int = 0

    def count(self, outcome: Outcome) -> None:
        self.read += 1
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)
