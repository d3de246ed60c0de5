"""Per-direction cursor: the newest change time seen, and fingerprints of what was seen at that time.

Both APIs stamp changes to the second, so a change made in the same second as the cursor must
not be mistaken for one already read: an item at the cursor time is skipped only when its
content is exactly what was read before.
"""
from __future__ import annotations

import hashlib

import orjson

from ..clock import shift


def fingerprint(item: dict) -> str:
    return hashlib.md5(orjson.dumps(item, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]


class Watermark:
    def __init__(self, cursor: dict | None) -> None:
        cursor = cursor or {}
        self.time: str = cursor.get("time") or ""
        self.seen: dict[str, str] = cursor.get("seen") or {}
        self.max_seen = ""
        self.at_max: dict[str, str] = {}

    @property
    def since(self) -> str | None:
        """What to ask the API for: one second before the cursor, so nothing at the cursor is missed."""
        return shift(self.time, -1) if self.time else None

    def already_read(self, stamp: str, key: str, item: dict) -> bool:
        """Tracks the item, and says whether an earlier run read it exactly like this."""
        mark = fingerprint(item)
        if stamp > self.max_seen:
            self.max_seen, self.at_max = stamp, {}
        if stamp == self.max_seen:
            self.at_max[key] = mark
        if not self.time:
            return False
        return stamp < self.time or (stamp == self.time and self.seen.get(key) == mark)

    def advanced(self, cap: str) -> dict:
        """The next cursor, never past `cap` (when the phase started), so changes made meanwhile are read."""
        if not self.max_seen:
            return {"time": self.time, "seen": self.seen} if self.time else {}
        if self.max_seen <= cap:
            return {"time": self.max_seen, "seen": self.at_max}
        return {"time": cap, "seen": {}}
