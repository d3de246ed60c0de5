"""Benchmark data: the issue's scenario (N contacts, N/5 audience members of which half match,
3 selected campaigns) and synthetic flow history / skipped records at scale."""
from __future__ import annotations

import random
from pathlib import Path

from engine.model import Segments
from engine.store.history import SEGMENT_EVENTS, ProfileHistory
from engine.store.index import ProfileIndex
from engine.workspace import Workspace

BENCH_PROFILE = "Donors"


def seed_sync_scenario(data_dir: Path, records: int) -> Workspace:
    ws = Workspace(data_dir)
    ws.reset_sandbox(records=records, seed=11, leads=100)
    profile = ws.profile(BENCH_PROFILE)
    campaigns = sorted(c for c in profile.segments.campaigns)[:3]
    profile.segments = Segments(campaigns=campaigns)
    ws.profiles_repo.save(profile)
    return ws


def change_records(ws: Workspace, fraction: float) -> int:
    """Edit a fraction of the Contacts (a new phone number), as CRM users would."""
    with ws.sandbox.session() as box:
        contacts = list(box.state.accounts["northwind"].zoho.modules["Contacts"])
        chosen = random.Random(5).sample(contacts, int(len(contacts) * fraction))
        for n, record_id in enumerate(chosen):
            box.state.edit_crm_record("northwind", "Contacts", record_id, Phone=f"+1 555 9{n:06d}")
    return len(chosen)


def seed_history(ws: Workspace, events: int, profiles: int = 3) -> list[tuple[str, str]]:
    """`events` flow events spread over profiles and ~events/5 records; returns (email, crm id) pairs."""
    rng = random.Random(3)
    records = [(f"person{n}@bench{n % 97}.org", str(4876876000100000000 + n)) for n in range(max(1, events // 5))]
    actions = ["unchanged", "updated", "tagged", "created", "skipped"]
    per_profile = events // profiles
    used: set[int] = set()
    for profile_id in range(1, profiles + 1):
        history = ProfileHistory(ws.layout.history_dir(profile_id), ws.history_keys)
        batch = []
        for n in range(per_profile):
            pick = rng.randrange(len(records))
            used.add(pick)
            email, crm_id = records[pick]
            batch.append({"ts": f"2026-{1 + n * 11 // per_profile:02d}-15T10:00:00+00:00", "seq": n,
                          "run": f"r{n // 20000}", "profile": profile_id, "dir": "crm>mc", "object": "Contacts",
                          "action": actions[n % 5], "crm_id": crm_id, "email": email, "name": "Bench Person"})
            if len(batch) == SEGMENT_EVENTS:
                history.append(batch)
                batch = []
        if batch:
            history.append(batch)
        ws.history_keys.flush()
    return [records[i] for i in sorted(used)]


def seed_skipped(ws: Workspace, count: int) -> int:
    """A profile whose record index holds `count` skipped records (no email first)."""
    profile = ws.profile(BENCH_PROFILE)
    reasons = ["no_email", "invalid_email", "duplicate_email"]
    records = {str(4876876000200000000 + n): {"crm_id": str(4876876000200000000 + n), "status": "skipped",
                                             "reason": reasons[n % 3], "name": f"Skipped Person {n}",
                                             "owner": "Ana Ruiz", "email": "" if n % 3 == 0 else f"bad{n}@x"}
               for n in range(count)}
    index = ProfileIndex(ws.layout.profile_dir(profile.id), ws.layout.locks)
    for crm_id, doc in records.items():
        index.put_record(crm_id, doc)
    index.checkpoint()
    return profile.id
