"""SIGKILL a sync at random moments (sandbox on loopback, in its own process): nothing is lost or doubled,
and broken store files are moved aside with a clear message instead of a traceback."""
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from engine.workspace import Workspace

from .conftest import FAST_RETRIES
from .test_loopback import free_port, wait_for
from .test_reliability import end_state, sync_everything

RECORDS = 20_000
KILLS = 22
SYNCED = ["Members", "Donors"]


def cli(data, *args, port=None):
    env = dict(os.environ, SYNCOPS_SANDBOX_PORT=str(port)) if port else dict(os.environ)
    return subprocess.Popen([sys.executable, "-m", "console.cli", "--data-dir", str(data), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def wait_until_running(data, pid: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = Workspace(data).runs.all() if (data / "store" / "runs.json").exists() else []
        run = next((r for r in runs if r.get("pid") == pid), None)
        if run and run["status"] == "running":
            return True
        if run:
            return False
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_kills_at_random_moments_converge_to_the_clean_end_state(tmp_path):
    # Donors and Members belong to different accounts, so their end state does not depend on run order
    # (the Leads profile shares Donors' audience, and which of two profiles runs first is a real choice).
    clean = Workspace(tmp_path / "clean", retry_policy=FAST_RETRIES)
    clean.reset_sandbox(records=RECORDS)
    sync_everything(clean, profiles=SYNCED)

    data = tmp_path / "killed"
    Workspace(data).reset_sandbox(records=RECORDS)
    port = free_port()
    server = cli(data, "sandbox", "serve", "--port", str(port))
    rng = random.Random(2026)
    profiles = ["Donors", "Donors", "Members"]
    kills = attempts = 0
    try:
        wait_for(port)
        while kills < KILLS and attempts < 2 * KILLS:
            attempts += 1
            victim = cli(data, "run", profiles[attempts % 3], *(["--full"] if attempts % 5 == 4 else []), port=port)
            if not wait_until_running(data, victim.pid):
                victim.wait()
                continue
            time.sleep(rng.uniform(0.0, 2.5))
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            ws = Workspace(data)  # the store opens after every kill
            overview = ws.overview()
            statuses = [p["last_run"]["status"] for a in overview for p in a["profiles"] if p["last_run"]]
            assert "running" not in statuses  # a killed run shows as abandoned
            kills += any(r["pid"] == victim.pid and r["status"] == "abandoned" for r in ws.runs.all())
        assert kills >= KILLS
        print(f"\n{kills} SIGKILLs mid-run in {attempts} attempts")
        ws = Workspace(data, retry_policy=FAST_RETRIES, sandbox_port=port)
        sync_everything(ws, profiles=SYNCED)
    finally:
        server.terminate()
        server.wait(20)
    ws = Workspace(data)
    assert end_state(ws) == end_state(clean)
    assert not list(data.rglob(".*.tmp"))
    for profile in ws.profiles():
        for run in ws.runs.for_profile(profile.id):
            if run["status"] in ("succeeded", "partial"):
                events = ws.run_events(run["run_id"])
                keys = Counter((e["dir"], e["action"], e.get("crm_id"), e.get("email"), e.get("tag"))
                               for e in events)
                assert max(keys.values(), default=1) == 1, run["run_id"]


@pytest.mark.parametrize("name", ["runs.json", "state.json", "config.json", "audit.json"])
def test_a_corrupt_store_file_is_moved_aside_and_named(tmp_path, name):
    from click.testing import CliRunner

    from console.cli import main

    data = tmp_path / "data"
    ws = Workspace(data, retry_policy=FAST_RETRIES)
    ws.reset_sandbox(records=200)
    ws.run("Members")
    target = data / "store" / name
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])  # torn mid-write
    result = CliRunner().invoke(main, ["--data-dir", str(data), "profiles"], catch_exceptions=False)
    assert "Traceback" not in result.output
    assert name in result.output and "moved to" in result.output
    assert list((data / "store").glob(f"{name}.corrupt-*"))
    again = CliRunner().invoke(main, ["--data-dir", str(data), "profiles"], catch_exceptions=False)
    assert again.exit_code == 0


def test_a_corrupt_record_index_is_rebuilt_by_a_full_rematch(tmp_path):
    ws = Workspace(tmp_path / "data", retry_policy=FAST_RETRIES)
    ws.reset_sandbox(records=200)
    first = ws.run("Members")
    index = ws.layout.profile_dir(ws.profile("Members").id) / "index.jsonl"
    index.write_bytes(b"records\t\"12")
    noticed = ws.run("Members")  # finds the broken index, sets it aside, and schedules a full re-match
    assert any("record index is rebuilt" in n for n in ws.notices)
    run = ws.run("Members")
    assert run["stats"]["crm>mc"]["read"] == first["stats"]["crm>mc"]["read"] + first["stats"]["mc>crm"]["created"]
    for later in (noticed, run):  # nothing doubled on the way
        assert later["stats"]["crm>mc"]["created"] == 0 and later["stats"]["mc>crm"]["created"] == 0
    assert ws.skipped("Members")  # the skipped list came back with the index


def test_a_corrupt_history_index_is_rebuilt_from_the_segments(tmp_path):
    ws = Workspace(tmp_path / "data", retry_policy=FAST_RETRIES)
    ws.reset_sandbox(records=200)
    run = ws.run("Members")
    email = ws.run_events(run["run_id"], "created")[0]["email"]
    before = ws.history(email)
    shards = list((ws.layout.store / "history" / "keys").glob("keys-*.tsv"))
    assert shards
    for shard in shards:
        shard.write_bytes(b"\x00\x00garbage")
    again = Workspace(tmp_path / "data")
    assert again.history(email) == before
    assert any("history key index was rebuilt" in notice for notice in again.notices)


async def test_the_console_explains_a_repaired_store_instead_of_crashing(tmp_path):
    from console.app import make_app

    data = tmp_path / "data"
    ws = Workspace(data, retry_policy=FAST_RETRIES)
    ws.reset_sandbox(records=200)
    await ws.run_async("Members")
    (data / "store" / "runs.json").write_bytes(b'{"runs": {"1": {"run_id": ')
    app = make_app(Workspace(data), poll_interval=None, runs_in_process=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        notes = [n.message for n in app._notifications]
        assert any("runs.json" in n and "moved to" in n and "run history starts afresh" in n for n in notes)
        assert app.screen.query_one("#profiles").row_count == 5
