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


def test_a_packed_table_survives_saves_by_copy_and_by_rewrite(tmp_path):
    from engine.store.packed import JsonTable

    path = tmp_path / "table.jsonl"
    table = JsonTable({f"k{n}": {"n": n, "text": "tab\there, newline\nthere"} for n in range(500)}, folder=tmp_path)
    table.save(path)
    table = JsonTable.load(path)
    expected = {f"k{n}": {"n": n, "text": "tab\there, newline\nthere"} for n in range(500)}
    assert dict(table) == expected
    del table["k1"]
    table["k2"] = {"n": -2}
    table["k9999"] = {"n": 9999}
    expected.pop("k1")
    expected |= {"k2": {"n": -2}, "k9999": {"n": 9999}}
    size = path.stat().st_size
    table.save(path)  # a copy with the changes appended: the file grows
    assert path.stat().st_size > size
    assert dict(table) == expected and dict(JsonTable.load(path)) == expected
    big = "x" * 4000
    for round_ in range(6):  # replaced rows pile up until a row-by-row rewrite drops them
        for n in range(500):
            table[f"k{n}"] = {"n": n, "pad": big, "round": round_}
        table.save(path)
    final = {f"k{n}": {"n": n, "pad": big, "round": 5} for n in range(500)} | {"k9999": {"n": 9999}}
    assert dict(JsonTable.load(path)) == final
    assert path.stat().st_size < 3 * 500 * 4100


def test_the_record_index_round_trips_and_a_damaged_one_is_rebuilt(tmp_path):
    from engine.store.index import ProfileIndex, read_skipped

    folder, locks = tmp_path / "profile", tmp_path / "locks"
    index = ProfileIndex(folder, locks)
    for n in range(300):
        index.put_record(str(n), {"crm_id": str(n), "status": "skipped" if n % 3 == 0 else "synced", "name": f"P{n}"})
        index.put_email(f"p{n}@x.org", {"crm_id": str(n)})
    index.checkpoint()
    again = ProfileIndex(folder, locks)
    again.drop_record("3")
    again.drop_email("p3@x.org")
    again.put_record("4", {"crm_id": "4", "status": "synced", "name": "Renamed"})
    again.checkpoint()
    third = ProfileIndex(folder, locks)
    assert third.record("3") is None and third.email_owner("p3@x.org") is None
    assert third.record("4")["name"] == "Renamed" and third.count("records") == 299
    assert third.email_owner("p5@x.org") == {"crm_id": "5", "email": "p5@x.org"}
    skipped = [row["crm_id"] for row in read_skipped(folder)[0]]
    assert "3" not in skipped and len(skipped) == 99
    damaged = bytearray((folder / "index.jsonl").read_bytes())
    damaged[40] ^= 1  # one flipped bit
    (folder / "index.jsonl").write_bytes(bytes(damaged))
    fourth = ProfileIndex(folder, locks)
    assert fourth.record("5") is None and "checksum" in fourth.recovered
    assert list(folder.glob("index.jsonl.corrupt-*"))


def test_history_segments_survive_a_cut_off_line_and_read_older_json_segments(tmp_path):
    import orjson

    from engine.store.history import HistoryKeys, ProfileHistory, read_segment

    store = tmp_path / "store"
    keys = HistoryKeys(store, tmp_path / "locks")
    folder = store / "history" / "7"
    folder.mkdir(parents=True)
    older = [{"email": "old@x.org", "action": "created", "n": 0}]
    (folder / "seg-000001.json").write_bytes(orjson.dumps({"events": {"1": older[0]}}))
    history = ProfileHistory(folder, keys)
    assert history.position == (2, 0)  # the older segment is left whole; new events start the next one
    history.append([{"email": f"p{n}@x.org", "action": "created", "n": n} for n in range(3)])
    history.sync()
    with (folder / "seg-000002.jsonl").open("ab") as handle:
        handle.write(b'{"email": "torn@x.org", "act')  # the process died mid-write
    resumed = ProfileHistory(folder, keys)
    assert resumed.position == (2, 3)
    resumed.append([{"email": "p3@x.org", "action": "updated", "n": 3}])
    assert read_segment(store, 7, 1) == older
    assert [e["n"] for e in read_segment(store, 7, 2)] == [0, 1, 2, 3]
    keys.flush()
    assert keys.refs(email="p3@x.org") == {(7, 2)}


def test_index_checkpoints_append_in_place_and_a_cut_off_append_is_ignored(tmp_path):
    from engine.store.index import ProfileIndex

    folder, locks = tmp_path / "profile", tmp_path / "locks"
    index = ProfileIndex(folder, locks)
    for n in range(200):
        index.put_record(str(n), {"crm_id": str(n), "status": "synced", "name": f"P{n}"})
    index.checkpoint()
    path = folder / "index.jsonl"
    inode, size = path.stat().st_ino, path.stat().st_size
    index.put_record("7", {"crm_id": "7", "status": "synced", "name": "Seven"})
    index.checkpoint()
    assert path.stat().st_ino == inode and path.stat().st_size < size + 200  # appended what changed
    with path.open("ab") as handle:  # a later checkpoint that a crash cut short
        handle.write(b'records\t"8"\t{"crm_id":"8","name":"LOST"}\nrecords\t"9"\t{"crm_id"')
    (folder / "index.keys.json").unlink()  # and the key map: the loader must scan
    again = ProfileIndex(folder, locks)
    assert again.record("7")["name"] == "Seven" and again.record("8")["name"] == "P8"
    assert again.recovered is None
    again.put_record("9", {"crm_id": "9", "status": "synced", "name": "Nine"})
    again.checkpoint()  # cuts the torn tail off before appending
    third = ProfileIndex(folder, locks)
    assert [third.record(k)["name"] for k in ("7", "8", "9")] == ["Seven", "P8", "Nine"]
    assert third.count("records") == 200 and b"LOST" not in path.read_bytes()
