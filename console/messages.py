"""Messages workers post; only handlers on the UI thread touch widgets."""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class OverviewLoaded(Message):
    overview: list[dict]
    running: int


@dataclass
class ProfileLoaded(Message):
    profile_id: int
    account_name: str
    selection_names: dict
    runs: list[dict]
    unmapped: dict
    errors: list[dict]
    audit: list[dict]
    converted_tracked: int


@dataclass
class SkippedWindow(Message):
    """One page of a profile's skipped records, read from the store."""

    rows: list[dict]
    total: int
    page: int
    needle: str


@dataclass
class HistoryLoaded(Message):
    key: str
    events: list[dict]
    profile_names: dict[int, str]


@dataclass
class RunProgressed(Message):
    """A burst of progress updates coalesces into the newest one."""

    profile_id: int
    update: dict

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgressed) and message.profile_id == self.profile_id


@dataclass
class RunEnded(Message):
    profile_id: int
    run: dict | None
    error: str | None = None


@dataclass
class EventsLoaded(Message):
    title: str
    events: list[dict]
