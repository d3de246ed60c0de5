"""Who a record is: the normalised email is the matching key in both systems."""
from __future__ import annotations

import hashlib
from functools import lru_cache
import re

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def normalize_email(raw: object) -> str:
    """Trimmed and lower-cased, as Zoho matches and Mailchimp hashes; '' for anything that is not text."""
    if not isinstance(raw, str):
        return ""
    return raw.strip().lower()


def invalid_email_reason(email: str) -> str | None:
    """Why a normalised email cannot be synced, or None when its shape is valid (RFC 5321 lengths)."""
    if len(email) > 254:
        return "longer than 254 characters"
    if email.count("@") != 1:
        return "must contain exactly one @"
    local, domain = email.split("@")
    if not local or len(local) > 64:
        return "local part empty or longer than 64 characters"
    if not _LOCAL.match(local):
        return "local part has characters not allowed in an address"
    return _domain_problem(domain)


@lru_cache(maxsize=4096)
def _domain_problem(domain: str) -> str | None:
    """Cached per domain: a 100k-record org has few domains, and IDNA encoding is slow."""
    if domain.endswith(".") or "." not in domain:
        return "domain must have a dot and no trailing dot"
    try:
        ascii_domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "domain is not a valid internationalised name"
    labels = ascii_domain.split(".")
    if not all(_LABEL.match(label) for label in labels) or not labels[-1].isalpha():
        return "domain is not a valid host name"
    return None


@lru_cache(maxsize=4096)
def member_hash(email: str) -> str:
    """Mailchimp's subscriber_hash: md5 of the lower-cased address."""
    return hashlib.md5(normalize_email(email).encode()).hexdigest()
