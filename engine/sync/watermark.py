"""Per-direction cursor: the newest change time seen, and what was seen at that time.

Both APIs stamp changes to the second. While the cursor's second may still receive changes,
an item stamped with it is skipped only when its content is exactly what was read before
(a fingerprint). When the read began (by the server's own clock, its `Date` header) after that
second, nothing new can be stamped with it: the cursor is "closed" and the next read starts after it.
"""
from __future__ import annotations

import hashlib

import orjson

from ..clock import parse_iso, shift


def fingerprint(item: dict) -> str:
    return hashlib.md5(orjson.dumps(item, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]


class Watermark:
    def __init__(self, cursor: dict | None, since_is_inclusive: bool) -> None:
        cursor = cursor or {}
        self.time: str = cursor.get("time") or ""
        self.closed: bool = bool(cursor.get("closed"))
        self.seen: dict[str, str] = cursor.get("seen") or {}
        self.inclusive = since_is_inclusive
        self.max_seen = ""
        self.at_max: dict[str, dict] = {}

    @property
    def since(self) -> str | None:
        """What to ask the API for: from the cursor's second on, or after it once it is closed."""
        if not self.time:
            return None
        if self.closed:
            return shift(self.time, 1) if self.inclusive else self.time
        return self.time if self.inclusive else shift(self.time, -1)

    def already_read(self, stamp: str, key: str, item: dict) -> bool:
        """Tracks the item, and says whether an earlier run read it exactly like this."""
        if stamp > self.max_seen:
            self.max_seen, self.at_max = stamp, {}
        if stamp == self.max_seen:
            self.at_max[key] = item  # fingerprinted only if this second ends up as the cursor
        if not self.time:
            return False
        if stamp < self.time or (self.closed and stamp == self.time):
            return True
        return stamp == self.time and self.seen.get(key) == fingerprint(item)

    def advanced(self, read_began: str) -> dict:
        """The next cursor, never past when the read began, so changes made meanwhile are read next time."""
        if not self.max_seen:
            return {"time": self.time, "closed": self.closed, "seen": self.seen} if self.time else {}
        began, newest = parse_iso(read_began), parse_iso(self.max_seen)
        if newest > began:
            return {"time": read_began, "seen": {}}
        if newest < began.replace(microsecond=0):
            return {"time": self.max_seen, "closed": True}
        return {"time": self.max_seen, "seen": {key: fingerprint(item) for key, item in self.at_max.items()}}
