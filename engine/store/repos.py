"""Small, hot files: profiles, cursors, runs and the audit log. One doc_id-keyed table each."""
from __future__ import annotations

from pathlib import Path

from ..model import Profile
from .storage import LockedFile, atomic_write_bytes

RUNS_KEPT_PER_PROFILE = 200


class Profiles:
    def __init__(self, store: Path, locks: Path) -> None:
        self.file = LockedFile(store / "config.json", locks)
        self.table = self.file.table("profiles")

    def all(self) -> list[Profile]:
        return sorted((Profile.from_doc(d) for d in self.table.all()), key=lambda p: p.id)

    def get(self, profile_id: int) -> Profile | None:
        doc = self.table.doc(profile_id)
        return Profile.from_doc(doc) if doc else None

    def _backup(self) -> None:
        """Profiles are configuration, not derived data: keep the previous version to restore from."""
        if self.file.path.exists():
            atomic_write_bytes(self.file.path.with_name("config.json.bak"), self.file.path.read_bytes())

    def add(self, profile: Profile, limit_check) -> Profile:
        """limit_check(existing_profiles) raises when the plan is full; checked under the lock."""
        with self.file.writing():
            self._backup()
            existing = self.all()
            limit_check(existing)
            profile.id = max((p.id for p in existing), default=0) + 1
            self.table.bulk_upsert({profile.id: profile.to_doc()})
        return profile

    def save(self, profile: Profile) -> None:
        with self.file.writing():
            self._backup()
            self.table.bulk_upsert({profile.id: profile.to_doc()})


class Cursors:
    """Per-profile sync state: cursors, cached metadata, the unmapped-fields snapshot."""

    def __init__(self, store: Path, locks: Path) -> None:
        self.file = LockedFile(store / "state.json", locks)
        self.table = self.file.table("cursors")

    def get(self, profile_id: int) -> dict:
        return dict(self.table.doc(profile_id) or {})

    def put(self, profile_id: int, state: dict) -> None:
        with self.file.writing():
            self.table.bulk_upsert({profile_id: state})


class Runs:
    def __init__(self, store: Path, locks: Path) -> None:
        self.file = LockedFile(store / "runs.json", locks)
        self.table = self.file.table("runs")

    def start(self, doc: dict) -> int:
        with self.file.writing():
            return self.table.insert(doc)

    def update(self, run_doc_id: int, changes: dict) -> None:
        with self.file.writing():
            self.table.update(changes, doc_ids=[run_doc_id])

    def finish(self, run_doc_id: int, changes: dict, profile_id: int) -> None:
        """Final state of a run, and pruning of the oldest runs of its profile, in one write."""
        with self.file.writing():
            self.table.update(changes, doc_ids=[run_doc_id])
            ids = sorted(d.doc_id for d in self.table.all() if d["profile_id"] == profile_id)
            self.table.bulk_remove(ids[:-RUNS_KEPT_PER_PROFILE])

    def all(self) -> list[dict]:
        return [dict(d, doc_id=d.doc_id) for d in self.table.all()]

    def for_profile(self, profile_id: int) -> list[dict]:
        """Newest first."""
        return sorted((r for r in self.all() if r["profile_id"] == profile_id), key=lambda r: -r["doc_id"])

    def get(self, run_id: str) -> dict | None:
        return next((r for r in self.all() if r["run_id"] == run_id), None)


class Audit:
    def __init__(self, store: Path, locks: Path) -> None:
        self.file = LockedFile(store / "audit.json", locks)
        self.table = self.file.table("audit")

    def record(self, entry: dict) -> None:
        with self.file.writing():
            self.table.insert(entry)

    def all(self) -> list[dict]:
        return [dict(d) for d in self.table.all()]
