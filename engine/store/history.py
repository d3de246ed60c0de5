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
from .storage import LockedFile, StoreCorrupt, atomic_write_bytes, json_tables, read_json_file

SEGMENT_EVENTS = 1000  # ~250 KB: a lookup parses a few of these in ~2 ms each


def _segment_name(number: int) -> str:
    return f"seg-{number:06d}.json"


KEY_SHARDS = 16


def _shard_of(table: str, key: str) -> int:
    return int(key) % KEY_SHARDS if key.isdigit() else 0


class HistoryKeys:
    """email key / CRM id -> the (profile, segment) pairs holding their events, as a flat list of ints.

    Split into KEY_SHARDS files by key, so a lookup reads one small file and a flush holds one
    shard in memory at a time.
    """

    def __init__(self, store: Path, locks: Path) -> None:
        from .layout import Layout

        self.root_layout = Layout(store.parent)
        self.folder = store / "history" / "keys"
        self.locks = locks
        self.shards: dict[int, LockedFile] = {}
        self.pending: dict[tuple[int, int], tuple[set[str], set[str]]] = {}

    def shard(self, number: int) -> LockedFile:
        if number not in self.shards:
            self.shards[number] = LockedFile(self.folder / f"keys-{number:02d}.json", self.locks)
        return self.shards[number]

    def note(self, event: dict, ref: tuple[int, int]) -> None:
        emails, crm_ids = self.pending.setdefault(ref, (set(), set()))
        if event.get("email"):
            emails.add(event["email"])
        if event.get("crm_id"):
            crm_ids.add(event["crm_id"])

    def flush(self) -> None:
        """One locked read-modify-write per shard for everything noted since the last flush."""
        if not self.pending:
            return
        adds: dict[int, list[tuple[str, str, tuple[int, int]]]] = {}
        for ref, (emails, crm_ids) in self.pending.items():
            for table, keys in (("by_email", [str(email_key(e)) for e in emails]), ("by_crm", crm_ids)):
                for key in keys:
                    adds.setdefault(_shard_of(table, key), []).append((table, key, ref))
        for number, items in sorted(adds.items()):
            shard = self.shard(number)
            with shard.lock:
                data = read_json_file(shard.path) or {}
                for table, key, (profile_id, segment) in items:
                    refs = data.setdefault(table, {}).setdefault(key, [])
                    if not any(refs[i] == profile_id and refs[i + 1] == segment for i in range(0, len(refs), 2)):
                        refs += [profile_id, segment]
                atomic_write_bytes(shard.path, json_tables(data))
        self.pending.clear()

    def refs(self, email: str | None = None, crm_id: str | None = None) -> set[tuple[int, int]]:
        found: set[tuple[int, int]] = set()
        for table, key in (("by_email", str(email_key(email)) if email else None), ("by_crm", crm_id)):
            if not key:
                continue
            shard = self.shard(_shard_of(table, str(key)))
            try:
                data = shard.db.storage.read() or {}
            except StoreCorrupt:
                from .recovery import rebuild_history_keys  # derived data: rebuilt from the segments

                rebuild_history_keys(self.root_layout, self)
                data = shard.db.storage.read() or {}
            flat = data.get(table, {}).get(str(key), [])
            found |= {(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)}
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
