"""What one run carries between its phases: clients, index, events, stats, progress."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..clock import Clock, iso
from ..connectors.mailchimp import MailchimpClient
from ..connectors.zoho import ZohoClient
from ..model import Direction, DirectionStats, ObjectType, Outcome, Profile
from ..store.history import ProfileHistory
from ..store.index import ProfileIndex
from .fieldbits import FieldBits

ProgressFn = Callable[[dict], None]
_VALUE = {member: member.value for member in (*Direction, *ObjectType)}  # 257k events: skip Enum's property
_NOTHING: dict = {}


class RunCancelled(Exception):
    """The operator cancelled the run; what was committed stays, the rest is redone next run."""


@dataclass
class RunContext:
    profile: Profile
    run_id: str
    clock: Clock
    zoho: ZohoClient
    mailchimp: MailchimpClient
    index: ProfileIndex
    history: ProfileHistory | None  # None on a dry run: nothing is recorded
    state: dict
    dry_run: bool = False
    full: bool = False
    only_record: str | None = None
    on_progress: ProgressFn | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    stats: dict[Direction, DirectionStats] = field(
        default_factory=lambda: {d: DirectionStats() for d in Direction})
    pending: list[dict] = field(default_factory=list)
    dry_events: list[dict] = field(default_factory=list)
    phase: str = "starting"
    totals: dict[str, int | None] = field(default_factory=dict)
    touched_in_crm_phase: set[str] = field(default_factory=set)
    crm_bits: FieldBits = field(default_factory=lambda: FieldBits([]))  # the runner shares the profile's lists
    merge_bits: FieldBits = field(default_factory=lambda: FieldBits([]))
    _last_progress: float = 0.0
    _now: str = ""
    _now_at: float = -1.0

    def now(self) -> str:
        """The clock, read at most every 50 ms: events are stamped to the second anyway."""
        tick = time.monotonic()
        if tick - self._now_at > 0.05:
            self._now, self._now_at = iso(self.clock()), tick
        return self._now

    def event(self, direction: Direction, action: str, *, crm_id: str | None = None, email: str | None = None,
              **details: object) -> dict:
        """One thing that happened to one record; recorded with the next flush."""
        event = {"ts": self.now(), "seq": time.time_ns(), "run": self.run_id, "profile": self.profile.id,
                 "dir": _VALUE[direction], "object": _VALUE[self.profile.object_type], "action": action}
        if crm_id:
            event["crm_id"] = crm_id
        if email:
            event["email"] = email
        for key, value in details.items():
            if value is not None and value != "" and value != _NOTHING and value != []:
                event[key] = value
        (self.dry_events if self.dry_run else self.pending).append(event)
        return event

    def outcome(self, direction: Direction, outcome: Outcome, **fields: object) -> None:
        self.stats[direction].count(outcome)
        self.event(direction, outcome.value, **fields)

    def flush_events(self) -> None:
        if self.pending and self.history is not None:
            self.history.append(self.pending)
        recent = self.pending[-20:] or self.dry_events[-20:]
        self.pending = []
        self.report(force=True, recent=recent)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise RunCancelled()

    def report(self, force: bool = False, recent: list[dict] | None = None) -> None:
        """Progress for the CLI bar, the run monitor and the run doc; at most ~4 a second."""
        now = time.monotonic()
        if self.on_progress is None or (not force and now - self._last_progress < 0.25):
            return
        self._last_progress = now
        self.on_progress({"phase": self.phase, "stats": self.stats_doc(), "totals": dict(self.totals),
                          "recent": recent or []})

    def stats_doc(self) -> dict:
        return {d.value: s.__dict__.copy() for d, s in self.stats.items()}
