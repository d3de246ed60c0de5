"""Time in one place, so runs, the sandbox and snapshots can share a fixed clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """Second-resolution ISO-8601 with offset, the shape both APIs use."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def shift(text: str, seconds: float) -> str:
    return iso(parse_iso(text) + timedelta(seconds=seconds))
