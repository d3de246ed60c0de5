"""Making untrusted text (CRM and Mailchimp values, API errors) inert before anyone displays it."""
from __future__ import annotations

import re

# C0 and C1 controls (ESC starts ANSI/OSC sequences), DEL, and bidi overrides/isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")
MAX_SHOWN = 500


def inert(value: object, limit: int = MAX_SHOWN) -> str:
    """Printable text: control and bidi characters removed, newlines/tabs as spaces, length capped."""
    if value is None:
        return ""
    text = _UNSAFE.sub("", str(value)).replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_id(crm_id: str | None) -> str:
    """…3456: the tail operators read CRM ids by."""
    return f"…{crm_id[-4:]}" if crm_id and len(crm_id) > 6 else (crm_id or "")
