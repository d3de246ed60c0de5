"""Each benchmark figure, run in a fresh process (so peak RSS is its own)."""
from __future__ import annotations

import asyncio
import random
import resource
import statistics
import time
from pathlib import Path

from engine.sync.run import RunRequest
from engine.workspace import Workspace

from .scenario import BENCH_PROFILE, change_records, seed_history, seed_skipped, seed_sync_scenario


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_summary(run: dict, seconds: float) -> dict:
    r = run["requests"]
    return {"seconds": round(seconds, 2), "status": run["status"], "zoho_requests": r["zoho"],
            "mailchimp_requests": r["mailchimp"],
            "zoho_ratio": round(r["zoho"] / max(1, r["zoho_minimum"]), 3),
            "mailchimp_ratio": round(r["mailchimp"] / max(1, r["mailchimp_minimum"]), 3),
            "read": {d: s["read"] for d, s in run["stats"].items()}}


def seed(data: str, records: int) -> dict:
    seed_sync_scenario(Path(data), records)
    return {}


def full_sync(data: str) -> dict:
    """Figure 1/4: a first full two-way sync of a seeded scenario, in a process of its own."""
    ws = Workspace(Path(data))
    start = time.perf_counter()
    run = ws.run(BENCH_PROFILE)
    return _run_summary(run, time.perf_counter() - start) | {"peak_rss_mb": round(peak_rss_mb())}


def incremental(data: str, fraction: float) -> dict:
    """Figures 2/3: after the full sync (and one run that reads back its own writes), rerun."""
    ws = Workspace(Path(data))
    ws.run(BENCH_PROFILE)  # settles the echo of the full sync's own writes
    changed = change_records(ws, fraction) if fraction else 0
    start = time.perf_counter()
    run = ws.run(BENCH_PROFILE, RunRequest())
    return _run_summary(run, time.perf_counter() - start) | {"changed": changed}


def history_lookup(data: str, events: int) -> dict:
    """Figure 5: one record's full history by email and by CRM id, p50/p95 over 200 records."""
    ws = Workspace(Path(data))
    records = seed_history(ws, events)
    ws = Workspace(Path(data))
    sample = random.Random(9).sample(records, 200)
    ws.history(sample[0][0])  # the key index is loaded once per process
    timings: dict[str, list[float]] = {"email": [], "crm_id": []}
    for email, crm_id in sample:
        for kind, key in (("email", email), ("crm_id", crm_id)):
            start = time.perf_counter()
            found = ws.history(key)
            timings[kind].append((time.perf_counter() - start) * 1000)
            assert found, key
    out = {"events": events}
    for kind, values in timings.items():
        values.sort()
        out[f"{kind}_p50_ms"] = round(statistics.median(values), 2)
        out[f"{kind}_p95_ms"] = round(values[int(len(values) * 0.95) - 1], 2)
    return out


def console_start(data: str, events: int, skipped: int) -> dict:
    """Figure 6: first frame with data on the Profiles screen; then the Skipped tab of a big profile."""
    process_start = time.perf_counter()
    ws = Workspace(Path(data))
    if not ws.profiles():
        ws.reset_sandbox(records=200)
        seed_history(ws, events)
        seed_skipped(ws, skipped)
    process_start = time.perf_counter()
    from console.app import make_app

    app = make_app(Workspace(Path(data)), poll_interval=None)
    result: dict = {}

    async def measure(pilot) -> None:
        table = app.screen.query_one("#profiles")
        while table.row_count == 0:
            await asyncio.sleep(0.005)
        await pilot.pause()
        result["first_frame_s"] = round(time.perf_counter() - process_start, 3)
        profile_id = app.ws.profile(BENCH_PROFILE).id
        start = time.perf_counter()
        app.open_profile(profile_id)
        await pilot.pause()
        app.screen.query_one("#tabs").active = "tab-skipped"
        while app.screen.query_one("#skipped").row_count == 0:
            await asyncio.sleep(0.001)
        painted = asyncio.Event()
        app.call_after_refresh(painted.set)
        await painted.wait()
        result["skipped_tab_ms"] = round((time.perf_counter() - start) * 1000, 1)
        result["skipped_window"] = str(app.screen.query_one("#skip-window").render()).split("   ")[0]
        app.exit()

    app.run(headless=True, size=(80, 24), auto_pilot=measure)
    return result | {"events": events, "peak_rss_mb": round(peak_rss_mb())}


async def key_to_frame(app, key: str) -> float:
    """Milliseconds from a keypress until the next frame is painted."""
    start = time.perf_counter()
    app.simulate_key(key)
    await asyncio.sleep(0)
    painted = asyncio.Event()
    app.call_after_refresh(painted.set)
    await painted.wait()
    return (time.perf_counter() - start) * 1000


async def key_to_screen(app, key: str, screen_type) -> float:
    """Milliseconds from a keypress until its screen is up and painted."""
    start = time.perf_counter()
    app.simulate_key(key)
    while not isinstance(app.screen, screen_type):
        await asyncio.sleep(0.001)
    painted = asyncio.Event()
    app.call_after_refresh(painted.set)
    await painted.wait()
    return (time.perf_counter() - start) * 1000


def console_during_sync(data: str, records: int) -> dict:
    """Figure 7: event-loop lag and keypress-to-frame latency while a big sync runs from the console."""
    seed_sync_scenario(Path(data), records)
    from console.app import make_app
    from console.screens.modals import HelpModal
    from console.screens.monitor import RunMonitorScreen

    app = make_app(Workspace(Path(data)), poll_interval=1.0)
    result: dict = {"lags_ms": [], "keys_ms": [], "modal_ms": []}

    async def measure(pilot) -> None:
        while app.screen.query_one("#profiles").row_count == 0:
            await asyncio.sleep(0.01)
        app.start_run(app.ws.profile(BENCH_PROFILE).id, RunRequest(), monitor=True)
        await pilot.pause()
        while app.cancels or not app.finished:
            before = time.perf_counter()
            await asyncio.sleep(0.02)
            result["lags_ms"].append((time.perf_counter() - before) * 1000 - 20)
            if len(result["lags_ms"]) % 25 == 0:
                result["keys_ms"].append(await key_to_frame(app, "up"))  # scroll the monitor's feed
                result["keys_ms"].append(await key_to_frame(app, "down"))
                result["modal_ms"].append(await key_to_screen(app, "question_mark", HelpModal))
                result["modal_ms"].append(await key_to_screen(app, "escape", RunMonitorScreen))
        app.exit()

    app.run(headless=True, size=(80, 24), auto_pilot=measure)
    lags, keys, modal = (sorted(result[k]) for k in ("lags_ms", "keys_ms", "modal_ms"))
    p95 = lambda values: round(values[int(len(values) * .95)], 1) if values else None  # noqa: E731
    return {"records": records, "max_stall_ms": round(max(lags), 1), "p95_stall_ms": p95(lags),
            "max_key_ms": round(max(keys), 1) if keys else None, "p95_key_ms": p95(keys),
            "p95_modal_open_close_ms": p95(modal), "run": app.finished and next(iter(app.finished.values()))["status"]}
