"""Which profiles are due: every N minutes since the last run started, or manual only."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Iterator

from ..clock import parse_iso
from ..model import Profile

if TYPE_CHECKING:
    from ..workspace import Workspace


def health(ws: "Workspace", profile: Profile, last_run: dict | None) -> str:
    """on time / delayed / failing / never run / running / manual."""
    if last_run is None:
        return "never run"
    if last_run["status"] == "running":
        return "running"
    if last_run["status"] in ("failed", "abandoned"):
        return "failing"
    minutes = profile.options.schedule_minutes
    if minutes is None:
        return "manual"
    overdue = ws.clock() - parse_iso(last_run["started_at"]) > timedelta(minutes=2 * minutes)
    return "delayed" if overdue else "on time"


def due_profiles(ws: "Workspace") -> Iterator[Profile]:
    for profile in ws.profiles():
        minutes = profile.options.schedule_minutes
        if minutes is None:
            continue
        last = ws.last_run(profile)
        if last is None or ws.clock() - parse_iso(last["started_at"]) >= timedelta(minutes=minutes):
            yield profile


def run_due(ws: "Workspace") -> list[tuple[Profile, dict | str]]:
    """One scheduler tick: run every due profile; a profile running elsewhere is left alone."""
    from .run import AlreadyRunning, RunRequest

    results: list[tuple[Profile, dict | str]] = []
    for profile in list(due_profiles(ws)):
        try:
            results.append((profile, ws.run(profile.id, RunRequest(trigger="schedule", actor="scheduler"))))
        except AlreadyRunning as exc:
            results.append((profile, str(exc)))
    return results
