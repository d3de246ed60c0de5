"""The TinyDB store: atomic writes, other-process reloads, corrupt files, run locks."""
import multiprocessing
import os

import pytest
from filelock import FileLock

from engine.store.repos import Runs
from engine.store.storage import LockedFile, StoreCorrupt, remove_stale_temp_files
from engine.sync.run import AlreadyRunning


def test_a_second_handle_sees_writes_from_another_and_ids_never_collide(tmp_path):
    a = Runs(tmp_path, tmp_path / "locks")
    b = Runs(tmp_path, tmp_path / "locks")
    first = a.start({"run_id": "a1", "profile_id": 1, "status": "running"})
    second = b.start({"run_id": "b1", "profile_id": 1, "status": "running"})
    third = a.start({"run_id": "a2", "profile_id": 1, "status": "running"})
    assert len({first, second, third}) == 3
    assert {r["run_id"] for r in b.all()} == {"a1", "b1", "a2"}


def _insert_many(path, locks, tag, count):
    runs = Runs(path, locks)
    for n in range(count):
        runs.start({"run_id": f"{tag}{n}", "profile_id": 1, "status": "done"})


def test_two_processes_writing_lose_nothing(tmp_path):
    procs = [multiprocessing.get_context("spawn").Process(target=_insert_many, args=(tmp_path, tmp_path / "l", t, 60))
             for t in "xy"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert len(Runs(tmp_path, tmp_path / "l").all()) == 120


def test_a_corrupt_file_is_moved_aside_with_a_clear_message(tmp_path):
    path = tmp_path / "runs.json"
    path.write_bytes(b'{"runs": {"1": {"run_id": "x", "profile_id": 1, "sta')  # truncated mid-write
    with pytest.raises(StoreCorrupt) as caught:
        LockedFile(path, tmp_path / "l").table("runs").all()
    assert caught.value.moved_to.exists() and not path.exists()
    assert str(caught.value.moved_to) in str(caught.value)


def test_stale_temp_files_are_cleaned_up(tmp_path):
    stale = tmp_path / ".runs.json.abc.tmp"
    stale.write_text("{}")
    os.utime(stale, (0, 0))
    assert remove_stale_temp_files(tmp_path) == [stale] and not stale.exists()


def test_one_profile_never_runs_twice(demo):
    profile = demo.profile("Donors")
    lock = FileLock(demo.layout.locks / f"run-{profile.id}.lock")
    with lock:  # as another process holding the run would
        with pytest.raises(AlreadyRunning, match="already running"):
            demo.run("Donors")


def test_data_dir_is_private_and_store_holds_no_secrets(demo):
    assert oct(demo.layout.root.stat().st_mode & 0o777) == "0o700"
    demo.run("Donors")
    creds = demo.layout.sandbox_credentials
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    secrets = [v for line in creds.read_text().splitlines() if "=" in line
               for v in [line.split("=", 1)[1].strip().strip('"')]]
    assert len(secrets) == 8
    for path in demo.layout.store.rglob("*.json"):
        text = path.read_text()
        assert not any(s in text for s in secrets), path
