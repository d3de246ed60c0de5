"""Two processes on one data dir: one run per profile at a time, and no write from either is lost."""
import os
import subprocess
import sys
import threading
import time

import pytest

from engine.workspace import Workspace

from .test_crash_safety import wait_until_running


def cli(data, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console.cli", "--data-dir", str(data), *args],
                          capture_output=True, text=True, env=dict(os.environ, **(env or {})), timeout=120)


def test_the_second_run_of_a_profile_says_who_runs_it_and_since_when(tmp_path):
    data = tmp_path / "data"
    ws = Workspace(data)
    ws.reset_sandbox(records=300)
    with ws.sandbox.session() as box:
        box.state.faults.latency_ms = 250  # a slow API keeps the first run going
    first = subprocess.Popen([sys.executable, "-m", "console.cli", "--data-dir", str(data), "run", "Donors"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, SSH_CLIENT="198.51.100.7 1 22"))
    try:
        assert wait_until_running(data, first.pid)
        second = cli(data, "run", "Donors")
        assert second.returncode == 3
        assert "already running since" in second.stderr and "(ssh 198.51.100.7)" in second.stderr
    finally:
        first.wait(120)
    assert first.returncode == 0


@pytest.mark.slow
def test_concurrent_edits_and_runs_lose_nothing(tmp_path):
    data = tmp_path / "data"
    Workspace(data).reset_sandbox(records=300)
    edits, runs = 24, 6
    errors: list[str] = []

    def editor() -> None:
        for n in range(edits):
            result = cli(data, "set", "Leads", "schedule", str(n + 1))
            if result.returncode:
                errors.append(result.stderr)

    def runner() -> None:
        for n in range(runs):
            result = cli(data, "run", ["Members", "Donors"][n % 2])
            if result.returncode:
                errors.append(result.stderr)

    threads = [threading.Thread(target=editor), threading.Thread(target=runner),
               threading.Thread(target=editor)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    ws = Workspace(data)
    audit = ws.audit.all()
    assert sum(e["action"] == "option.set" for e in audit) == 2 * edits
    assert sum(e["action"] == "run.start" for e in audit) == runs
    assert len([r for r in ws.runs.all() if r["status"] in ("succeeded", "partial")]) == runs
    assert ws.profile("Leads").options.schedule_minutes in range(1, edits + 1)
    assert time.monotonic() - start < 120
