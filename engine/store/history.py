"""Per-record flow history: append-only, size-capped event segments plus a key index.

Events are appended once per batch to the profile's current segment (≤ SEGMENT_EVENTS,
so an append rewrites at most ~1 MB). The key index maps an email key and a CRM id to
the segments holding their events, so a lookup reads a few small segments and never
scans the whole history.
"""
from __future__ import annotations

from pathlib import Path

import orjson

from ..rules.identity import email_key
from .storage import LockedFile, StoreCorrupt, atomic_write_bytes, read_json_file

SEGMENT_EVENTS = 1000  # ~250 KB: a lookup parses a few of these in ~2 ms each


def _segment_name(number: int) -> str:
    return f"seg-{number:06d}.json"


class HistoryKeys:
    """email key / CRM id -> [[profile id, segment number], ...]."""

    def __init__(self, store: Path, locks: Path) -> None:
        from .layout import Layout

        self.root_layout = Layout(store.parent)
        self.file = LockedFile(store / "history" / "keys.json", locks)
        self.pending: dict[tuple[int, int], tuple[set[str], set[str]]] = {}

    def note(self, event: dict, ref: tuple[int, int]) -> None:
        emails, crm_ids = self.pending.setdefault(ref, (set(), set()))
        if event.get("email"):
            emails.add(event["email"])
        if event.get("crm_id"):
            crm_ids.add(event["crm_id"])

    def flush(self) -> None:
        """One locked read-modify-write of the index for everything noted since the last flush."""
        if not self.pending:
            return
        with self.file.lock:
            data = read_json_file(self.file.path) or {}
            by_email, by_crm = data.setdefault("by_email", {}), data.setdefault("by_crm", {})
            for ref, (emails, crm_ids) in self.pending.items():
                pair = list(ref)
                for table, keys in ((by_email, (str(email_key(e)) for e in emails)), (by_crm, crm_ids)):
                    for key in keys:
                        refs = table.setdefault(key, {"s": []})["s"]
                        if pair not in refs:
                            refs.append(pair)
            atomic_write_bytes(self.file.path, orjson.dumps(data))
        self.pending.clear()

    def refs(self, email: str | None = None, crm_id: str | None = None) -> set[tuple[int, int]]:
        try:
            table = self.file.db.storage.read() or {}
        except StoreCorrupt:
            from .recovery import rebuild_history_keys  # derived data: rebuilt from the segments

            rebuild_history_keys(self.root_layout, self)
            table = self.file.db.storage.read() or {}
        found: set[tuple[int, int]] = set()
        if email:
            found |= {tuple(r) for r in table.get("by_email", {}).get(str(email_key(email)), {}).get("s", [])}
        if crm_id:
            found |= {tuple(r) for r in table.get("by_crm", {}).get(str(crm_id), {}).get("s", [])}
        return found


class ProfileHistory:
    """The append side: one profile's segments, written by the one run that holds its run lock."""

    def __init__(self, folder: Path, keys: HistoryKeys) -> None:
        self.folder, self.keys = folder, keys
        folder.mkdir(parents=True, exist_ok=True)
        numbers = sorted(int(p.stem.split("-")[1]) for p in folder.glob("seg-*.json"))
        self.number = numbers[-1] if numbers else 1
        self.events: dict[str, dict] = (read_json_file(folder / _segment_name(self.number)) or {}).get("events", {})

    def append(self, events: list[dict]) -> None:
        """One write for the batch; rolls to a new segment when the current one is full."""
        while events:
            room = SEGMENT_EVENTS - len(self.events)
            if room <= 0:
                self.number += 1
                self.events = {}
                continue
            chunk, events = events[:room], events[room:]
            start = len(self.events) + 1
            for offset, event in enumerate(chunk):
                self.events[str(start + offset)] = event
                self.keys.note(event, (int(self.folder.name), self.number))
            atomic_write_bytes(self.folder / _segment_name(self.number), orjson.dumps({"events": self.events}))

    @property
    def position(self) -> tuple[int, int]:
        return self.number, len(self.events)


def read_segment(store: Path, profile_id: int, number: int) -> list[dict]:
    """A segment's events; a corrupt segment is moved aside (its events are lost, the rest stays readable)."""
    try:
        doc = read_json_file(store / "history" / str(profile_id) / _segment_name(number)) or {}
    except StoreCorrupt:
        return []
    return list(doc.get("events", {}).values())


def segments_after(store: Path, profile_id: int, position: tuple[int, int]) -> list[tuple[int, list[dict]]]:
    """Events written after a checkpoint position, for re-indexing after a crash."""
    number, count = position
    out = []
    for path in sorted((store / "history" / str(profile_id)).glob("seg-*.json")):
        seg = int(path.stem.split("-")[1])
        if seg < number:
            continue
        events = list((read_json_file(path) or {}).get("events", {}).values())
        out.append((seg, events[count:] if seg == number else events))
    return out
