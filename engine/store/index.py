"""Per-profile record index: what the profile knows of each CRM record, email and member.

Kept in memory during a run and checkpointed as one atomic write (with the cursor after
it), since every TinyDB write rewrites the whole file. The file stays in TinyDB's format
(table -> str(doc_id) -> doc), so readers use plain `get(doc_id=...)`.
"""
from __future__ import annotations

from pathlib import Path

import orjson

from ..rules.identity import email_key
from .storage import LockedFile, StoreCorrupt, atomic_write_bytes, json_tables


SKIPPED_FIELDS = ("crm_id", "reason", "name", "owner", "email", "winner")
REASON_ORDER = {"no_email": 0, "invalid_email": 1, "duplicate_email": 2}


def skipped_order(row: dict) -> tuple:
    return (REASON_ORDER.get(row.get("reason"), 9), row.get("name") or "", row.get("crm_id") or "")


def read_skipped(folder: Path, offset: int = 0, limit: int | None = None, needle: str = "") -> tuple[list[dict], int]:
    """A window of the skipped records (no email first) and how many match: one JSON line per record,
    so a page of 100 out of 50k parses 100 lines, and a filter parses only the lines that match."""
    try:
        lines = (folder / "skipped.jsonl").read_bytes().splitlines()
    except FileNotFoundError:
        return [], 0
    if needle:
        wanted = needle.lower().encode()
        lines = [line for line in lines if wanted in line.lower()]
    window = lines[offset: None if limit is None else offset + limit]
    return [orjson.loads(line) for line in window], len(lines)


class ProfileIndex:
    def __init__(self, folder: Path, locks: Path) -> None:
        self.file = LockedFile(folder / "records.json", locks)
        self.recovered: str | None = None
        self.loaded = False
        self.dirty = False

    def _load(self) -> None:
        """Loaded on first use: a run with nothing to do never reads a 100k-record index."""
        try:
            data = self.file.db.storage.read() or {}
        except StoreCorrupt as exc:  # derived data: the next run re-matches and rebuilds it
            data, self.recovered = {}, f"{exc}; the record index is rebuilt by a full re-match"
        self._records: dict[str, dict] = dict(data.get("records", {}))  # str(crm id) -> record state
        self._emails: dict[str, dict] = dict(data.get("emails", {}))  # str(email key) -> owner of the email
        self._members: dict[str, dict] = dict(data.get("members", {}))  # str(email key) -> member state
        self.loaded = True

    @property
    def records(self) -> dict[str, dict]:
        if not self.loaded:
            self._load()
        return self._records

    @property
    def emails(self) -> dict[str, dict]:
        if not self.loaded:
            self._load()
        return self._emails

    @property
    def members(self) -> dict[str, dict]:
        if not self.loaded:
            self._load()
        return self._members

    # records ------------------------------------------------------------------------
    def record(self, crm_id: str) -> dict | None:
        return self.records.get(crm_id)

    def put_record(self, crm_id: str, doc: dict) -> None:
        self.records[crm_id] = doc
        self.dirty = True

    def drop_record(self, crm_id: str) -> None:
        self.records.pop(crm_id, None)
        self.dirty = True

    # emails -------------------------------------------------------------------------
    def email_owner(self, email: str) -> dict | None:
        return self.emails.get(str(email_key(email)))

    def put_email(self, email: str, doc: dict) -> None:
        self.emails[str(email_key(email))] = dict(doc, email=email)
        self.dirty = True

    def drop_email(self, email: str) -> None:
        self.emails.pop(str(email_key(email)), None)
        self.dirty = True

    # members ------------------------------------------------------------------------
    def member(self, email: str) -> dict | None:
        return self.members.get(str(email_key(email)))

    def put_member(self, email: str, doc: dict) -> None:
        self.members[str(email_key(email))] = doc
        self.dirty = True

    def checkpoint(self) -> None:
        """The index, then the skipped list beside it (small, so triage never loads the whole index)."""
        if not self.dirty:
            return
        payload = json_tables({"records": self.records, "emails": self.emails, "members": self.members})
        skipped = sorted(({f: d.get(f) for f in SKIPPED_FIELDS} | {"crm_id": k} for k, d in self.records.items()
                          if d.get("status") == "skipped"), key=skipped_order)
        with self.file.lock:
            atomic_write_bytes(self.file.path, payload)
            atomic_write_bytes(self.file.path.with_name("skipped.jsonl"), (orjson.dumps(r) + b"\n" for r in skipped))
        self.dirty = False

    def forget_pushed_values(self) -> None:
        """"Reset Sync Process": every record is compared and sent again; tags and ownership are kept."""
        for doc in self.records.values():
            doc.pop("pushed", None)
        for doc in self.members.values():
            doc.pop("merge", None)
        self.dirty = True
