"""Per-record flow history: append-only, size-capped event segments plus a key index.

Events are appended once per batch, as JSON lines, to the profile's current segment
(≤ SEGMENT_EVENTS), and fsynced once per checkpoint. The key index maps an email and a CRM id to the
segments holding their events, so a lookup reads a few small segments and never scans
the whole history.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path

import orjson

from .storage import StoreCorrupt, read_json_file, writer_lock

SEGMENT_EVENTS = 1000  # ~250 KB: a lookup parses a few of these in ~2 ms each


def _segment_path(folder: Path, number: int) -> Path:
    """seg-NNNNNN.jsonl, one event per line; stores from before that have seg-NNNNNN.json documents."""
    path = folder / f"seg-{number:06d}.jsonl"
    return path if path.exists() or not path.with_suffix(".json").exists() else path.with_suffix(".json")


def segment_numbers(folder: Path) -> list[int]:
    return sorted({int(p.name[4:10]) for p in folder.glob("seg-*.json*") if p.name[4:10].isdigit()})


KEY_SHARDS = 16
KEYS_HEADER = b"#syncops history keys 1\n"


def _key_line_start(kind: bytes, key: str) -> bytes:
    """`\n` + kind + key as JSON + tab: what a lookup searches for (keys may hold any character)."""
    return b"\n" + kind + b"\t" + orjson.dumps(key) + b"\t"


class HistoryKeys:
    """Email / CRM id -> the (profile, segment) pairs holding their events.

    KEY_SHARDS append-only files of `kind<TAB>"key"<TAB>profile<TAB>segment` lines (kind `e` for an
    email, `c` for a CRM id), sharded by the key's CRC: a flush appends lines without reading the
    file, and a lookup finds its lines with a byte search, without parsing the rest.
    """

    def __init__(self, store: Path, locks: Path, notices: list[str] | None = None) -> None:
        from .layout import Layout

        self.root_layout = Layout(store.parent)
        self.folder = store / "history" / "keys"
        self.locks = locks
        self.notices = notices if notices is not None else []
        self.pending: dict[tuple[int, int], tuple[set[str], set[str]]] = {}
        self._checked = False

    def path(self, number: int) -> Path:
        return self.folder / f"keys-{number:02d}.tsv"

    def note(self, event: dict, ref: tuple[int, int]) -> None:
        emails, crm_ids = self.pending.setdefault(ref, (set(), set()))
        if event.get("email"):
            emails.add(event["email"])
        if event.get("crm_id"):
            crm_ids.add(event["crm_id"])

    def flush(self) -> None:
        """One locked append per shard for everything noted since the last flush."""
        if not self.pending:
            return
        lines: dict[int, list[bytes]] = {}
        for (profile_id, segment), (emails, crm_ids) in self.pending.items():
            tail = b"%d\t%d" % (profile_id, segment)
            for kind, keys in ((b"e", emails), (b"c", crm_ids)):
                for key in keys:
                    start = _key_line_start(kind, key)
                    lines.setdefault(zlib.crc32(start) % KEY_SHARDS, []).append(start + tail)
        self.folder.mkdir(parents=True, exist_ok=True)
        for number, items in sorted(lines.items()):
            path = self.path(number)
            with writer_lock(path, self.locks), path.open("ab") as handle:
                if handle.tell() == 0:
                    handle.write(KEYS_HEADER[:-1])  # every line, the first too, starts with its newline
                handle.write(b"".join(items))
                handle.flush()
                os.fsync(handle.fileno())
        self.pending.clear()

    def refs(self, email: str | None = None, crm_id: str | None = None) -> set[tuple[int, int]]:
        found: set[tuple[int, int]] = set()
        for kind, key in ((b"e", email), (b"c", crm_id)):
            if not key:
                continue
            start = _key_line_start(kind, key)
            data = self._read(zlib.crc32(start) % KEY_SHARDS)
            at = data.find(start)
            while at >= 0:
                end = data.find(b"\n", at + 1)
                fields = data[at + len(start): end if end >= 0 else len(data)].split(b"\t")
                if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
                    found.add((int(fields[0]), int(fields[1])))
                at = data.find(start, at + 1)
        return found

    def _read(self, number: int) -> bytes:
        """A shard's bytes; a shard without its header (or an index in the older JSON format) means the
        key index is rebuilt from the segments, which are the truth."""
        if not self._checked:
            self._checked = True
            if list(self.folder.glob("keys-*.json")):
                self._rebuild("the key index was in the older JSON format")
        try:
            data = self.path(number).read_bytes()
        except FileNotFoundError:
            return b""
        if not data.startswith(KEYS_HEADER[:-1]):
            self._rebuild(f"{self.path(number).name} was damaged")
            data = self.path(number).read_bytes() if self.path(number).exists() else b""
        return data

    def _rebuild(self, why: str) -> None:
        from .recovery import rebuild_history_keys  # derived data: rebuilt from the segments

        rebuild_history_keys(self.root_layout, self, why)


def _whole_lines(path: Path) -> int:
    """Events in a segment; a line cut short by a crash is cut off (the caller holds the run lock)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    whole = data.rfind(b"\n") + 1
    if whole < len(data):
        with path.open("r+b") as handle:
            handle.truncate(whole)
    return data.count(b"\n", 0, whole)


class ProfileHistory:
    """The append side: one profile's segments, written by the one run that holds its run lock."""

    def __init__(self, folder: Path, keys: HistoryKeys) -> None:
        self.folder, self.keys = folder, keys
        folder.mkdir(parents=True, exist_ok=True)
        numbers = segment_numbers(folder)
        self.number = numbers[-1] if numbers else 1
        current = _segment_path(folder, self.number)
        if current.suffix == ".json":  # an older segment is left as it is; new events start the next one
            self.number, self.count = self.number + 1, 0
        else:
            self.count = _whole_lines(current)
        self._unsynced: set[Path] = set()

    def append(self, events: list[dict]) -> None:
        """Appends the batch's lines (fsynced by sync()); rolls to a new segment when one is full."""
        while events:
            room = SEGMENT_EVENTS - self.count
            if room <= 0:
                self.number, self.count = self.number + 1, 0
                continue
            chunk, events = events[:room], events[room:]
            ref = (int(self.folder.name), self.number)
            for event in chunk:
                self.keys.note(event, ref)
            path = _segment_path(self.folder, self.number)
            with path.open("ab") as handle:
                handle.write(b"".join(orjson.dumps(event) + b"\n" for event in chunk))
            self.count += len(chunk)
            self._unsynced.add(path)

    def sync(self) -> None:
        """Make the appended events durable: before a checkpoint moves the cursor past them."""
        for path in self._unsynced:
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        self._unsynced.clear()

    @property
    def position(self) -> tuple[int, int]:
        return self.number, self.count


def read_segment(store: Path, profile_id: int, number: int) -> list[dict]:
    """A segment's events. A line that does not parse (cut short by a crash, or damaged) is skipped;
    an older JSON segment that does not parse is moved aside."""
    path = _segment_path(store / "history" / str(profile_id), number)
    if path.suffix == ".json":
        try:
            return list((read_json_file(path) or {}).get("events", {}).values())
        except StoreCorrupt:
            return []
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    events = []
    for line in lines:
        try:
            events.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return events


def segments_after(store: Path, profile_id: int, position: tuple[int, int]) -> list[tuple[int, list[dict]]]:
    """Events written after a checkpoint position, for re-indexing after a crash."""
    number, count = position
    out = []
    for seg in segment_numbers(store / "history" / str(profile_id)):
        if seg >= number:
            events = read_segment(store, profile_id, seg)
            out.append((seg, events[count:] if seg == number else events))
    return out
