"""Pilot tests: every console action, as an operator presses keys."""
from textual.widgets import Input

from console.screens.modals import ConfirmModal
from console.screens.monitor import RunMonitorScreen
from console.screens.profile import ProfileScreen
from console.screens.profiles import ProfilesScreen
from console.screens.record import RecordScreen

from .conftest import settle


async def open_profile(pilot, name: str) -> None:
    table = pilot.app.screen.query_one("#profiles")
    row = next(i for i, key in enumerate(table.rows) if key.value.startswith("prof:")
               and pilot.app.ws.profile(int(key.value[5:])).name.startswith(name))
    table.move_cursor(row=row)
    await pilot.press("enter")
    await settle(pilot)


async def test_home_lists_profiles_with_plan_usage(make_console):
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#profiles")
        keys = [k.value for k in table.rows]
        assert keys == ["acct:harbor-yoga", "prof:1", "acct:northwind", "prof:2", "prof:3"]
        assert [str(c) for c in table.get_row("acct:harbor-yoga")[2:4]] == ["Free", "1/1 used"]


async def test_trigger_a_run_and_watch_it_to_the_end(make_console):
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_profile(pilot, "Donors")
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, RunMonitorScreen)
        assert app.finished[2]["status"] in ("succeeded", "partial")
        label = str(app.screen.query_one("#label-CRM_TO_MC").render())
        assert "done" in label
        assert app.ws.runs.for_profile(2)[0]["actor"] == "ana@support-2"


async def test_cancel_stops_a_run(make_console):
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        from engine.sync.run import RunRequest

        app.start_run(2, RunRequest(full=True))
        app.cancel_run(2)
        await settle(pilot)
        assert app.finished[2]["status"] == "cancelled"


async def test_toggle_delete_converted_leads_confirms_and_audits(make_console):
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_profile(pilot, "Leads")
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        tracked = app.ws.converted_tracked("Leads")
        assert tracked > 0 and f"{tracked:,} converted leads are still tracked" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        assert app.ws.profile("Leads").options.delete_converted_leads is True
        entry = [a for a in app.ws.audit.all() if a["action"] == "option.set"][-1]
        assert entry["actor"] == "ana@support-2" and entry["details"]["to"] is True
        app.screen.query_one("#tabs").active = "tab-audit"
        await settle(pilot)
        audit = app.screen.query_one("#audit")
        first = [str(cell) for cell in audit.get_row_at(0)]
        assert first[1] == "ana@support-2" and first[2] == "delete-converted-leads: False → True"


async def test_cancelling_the_confirmation_changes_nothing(make_console):
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_profile(pilot, "Leads")
        await pilot.press("c", "escape")
        await settle(pilot)
        assert app.ws.profile("Leads").options.delete_converted_leads is False
        assert not [a for a in app.ws.audit.all() if a["action"] == "option.set"]


async def test_rerun_one_record_from_the_record_screen(make_console, console_ws):
    email = next(e["email"] for e in console_ws.run_events("run0002", "created") if e["dir"] == "crm>mc")
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_record(email)
        await settle(pilot)
        before = len(app.screen.events)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen)
        assert len(app.screen.events) > before
        assert app.ws.runs.for_profile(2)[0]["record"] == email


async def test_read_only_refuses_every_mutation(make_console):
    app = make_console(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        runs_before = len(app.ws.runs.all())
        await pilot.press("r")
        await open_profile(pilot, "Leads")
        await pilot.press("r", "R", "d", "c")
        await settle(pilot)
        assert isinstance(app.screen, ProfileScreen)
        assert len(app.ws.runs.all()) == runs_before
        assert app.ws.profile("Leads").options.delete_converted_leads is False
        assert app.start_run(3, __import__("engine.sync.run", fromlist=["x"]).RunRequest()) is False


async def test_filter_narrows_the_home_table(make_console):
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"harbor")
        await pilot.pause()
        keys = [k.value for k in app.screen.query_one("#profiles").rows]
        assert keys == ["acct:harbor-yoga", "prof:1"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.screen.query_one("#profiles").rows) == 5


async def test_jump_finds_a_record_by_email(make_console, console_ws):
    email = console_ws.run_events("run0001", "created")[0]["email"]
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.pause()
        app.screen.query_one(Input).value = email
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen) and app.screen.events
        assert app.screen.query_one("#now").render().plain.startswith("Now: Synced")


async def test_palette_jumps_to_a_profile(make_console):
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Open profile Leads")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ProfileScreen) and app.screen.profile_id == 3


async def test_hostile_names_are_shown_literally(make_console, console_ws):
    hostile = "[bold red]x[/] \x1b]52;c;cHduZWQ=\x07\u202eevil"

    def plant(state):
        record = next(r for r in state.accounts["harbor-yoga"].zoho.modules["Contacts"].values() if not r["Email"])
        state.edit_crm_record("harbor-yoga", "Contacts", record["id"], First_Name=hostile)

    with console_ws.sandbox.session() as box:
        plant(box.state)
    await console_ws.run_async("Members")
    app = make_console()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await open_profile(pilot, "Members")
        await pilot.press("right")
        await settle(pilot)
        table = app.screen.query_one("#skipped")
        names = [str(table.get_row(k)[2]) for k in table.rows]
        shown = next(n for n in names if "bold" in n)
        assert shown.startswith("[bold red]x[/]") and "\x1b" not in shown and "\u202e" not in shown
        assert isinstance(app.screen_stack[1], ProfilesScreen)


async def test_a_profile_running_elsewhere_gives_a_clear_message(make_console, console_ws):
    from filelock import FileLock

    from engine.sync.run import RunRequest

    app = make_console()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        with FileLock(console_ws.layout.locks / "run-2.lock"):
            app.start_run(2, RunRequest(), monitor=False)
            await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any("already running" in m for m in messages)
        assert 2 not in app.cancels


async def test_runs_started_by_another_process_show_up(make_console, console_ws):
    import asyncio

    from console.app import make_app
    from engine.sync.run import RunRequest

    from .conftest import fixed_clock

    app = make_app(console_ws, clock=fixed_clock, poll_interval=0.05, actor="ana@support-2")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        other = console_ws.clone()
        run = await asyncio.to_thread(other.run, 2, RunRequest(actor="cli@other-box"))
        for _ in range(40):
            await pilot.pause(0.05)
            await app.workers.wait_for_complete()
            shown = {p["profile"].id: p["last_run"] for a in app.screen.overview for p in a["profiles"]}
            if shown[2]["run_id"] == run["run_id"]:
                break
        assert shown[2]["run_id"] == run["run_id"] and shown[2]["actor"] == "cli@other-box"
        assert "cli@other-box" in str(app.screen.query_one("#profiles").get_row("prof:2")[-1])
        table = app.screen.query_one("#profiles")
        table.move_cursor(row=table.get_row_index("prof:2"))
        await pilot.press("m")
        await settle(pilot)
        top = str(app.screen.query_one("#topbar").render())
        assert "succeeded" in top and "cli@other-box" in top
        counts = str(app.screen.query_one("#count-CRM_TO_MC").render())
        assert f"unchanged {run['stats']['crm>mc']['unchanged']:,}" in counts


async def test_the_console_runs_syncs_in_their_own_process(make_console):
    from engine.sync.run import RunRequest

    app = make_console(runs_in_process=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.start_run(2, RunRequest(), monitor=True)
        for _ in range(200):
            await pilot.pause(0.05)
            if 2 in app.finished:
                break
        run = app.finished[2]
        assert run["status"] in ("succeeded", "partial") and run["actor"] == "ana@support-2"
        assert run["pid"] != __import__("os").getpid()
        assert "done" in str(app.screen.query_one("#label-CRM_TO_MC").render())


async def test_cancelling_a_run_in_its_own_process(make_console, console_ws):
    from engine.sync.run import RunRequest

    with console_ws.sandbox.session() as box:
        box.state.faults.latency_ms = 100  # every API call is slow, so the run is still going when cancelled
    app = make_console(runs_in_process=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.start_run(2, RunRequest(full=True), monitor=False)
        for _ in range(200):
            await pilot.pause(0.02)
            if app.live.get(2, {}).get("phase") not in (None, "starting"):
                break
        assert app.cancel_run(2)
        for _ in range(200):
            await pilot.pause(0.05)
            if 2 in app.finished:
                break
        assert app.finished[2]["status"] == "cancelled"
        assert app.ws.runs.for_profile(2)[0]["status"] == "cancelled"


async def test_skipped_records_are_paged_and_filtered_from_the_store(make_console, console_ws):
    from bench.scenario import seed_skipped

    seed_skipped(console_ws, 250)
    total = len(console_ws.skipped("Donors"))
    assert total > 250
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_profile(console_ws.profile("Donors").id)
        await settle(pilot)
        app.screen.query_one("#tabs").active = "tab-skipped"
        await settle(pilot)
        window = lambda: str(app.screen.query_one("#skip-window").render())  # noqa: E731
        assert window().startswith(f"1-100 of {total} skipped")
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert window().startswith(f"101-200 of {total}")
        await pilot.press("slash", *"Person 1")
        await settle(pilot)
        rows = app.screen.query_one("#skipped").rows
        assert window().startswith("1-") and "matching 'Person 1'" in window() and 0 < len(rows) <= 100
