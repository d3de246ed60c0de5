"""Every screen at 80×24 and 120×40, on deterministic sandbox data and a fixed clock."""
import pytest
from textual.widgets import Input

from .conftest import settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def still(pilot) -> None:
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False


async def open_profile(pilot, profile_id: int, tab: str | None = None) -> None:
    await settle(pilot)
    pilot.app.open_profile(profile_id)
    await settle(pilot)
    if tab:
        pilot.app.screen.query_one("#tabs").active = tab
        await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_profiles_home(snap_compare, make_console, size):
    assert snap_compare(make_console(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_profiles_home_read_only(snap_compare, make_console, size):
    assert snap_compare(make_console(read_only=True), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("tab", ["tab-last", "tab-skipped", "tab-unmapped", "tab-runs", "tab-errors", "tab-audit"])
def test_profile_tabs(snap_compare, make_console, size, tab):
    async def before(pilot):
        await open_profile(pilot, 3, tab)

    assert snap_compare(make_console(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_record_history_of_a_converted_lead(snap_compare, make_console, console_ws, size):
    from engine.sync.run import RunRequest

    org = console_ws.sandbox.state.load().accounts["northwind"].zoho
    tracked = {r["crm_id"] for r in console_ws.skipped("Leads")}
    lead_id = next(r["id"] for r in sorted(org.modules["Leads"].values(), key=lambda r: r["id"])
                   if r["Converted__s"] and r["Email"] and r["id"] not in tracked)
    console_ws.set_option("Leads", "delete-converted-leads", "on", actor="ana@support-2")
    console_ws.run("Leads", RunRequest(full=True, actor="ana@support-2"))

    async def before(pilot):
        await settle(pilot)
        pilot.app.open_record(lead_id)
        await settle(pilot)

    assert snap_compare(make_console(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_run_monitor_after_a_run(snap_compare, make_console, size):
    async def before(pilot):
        await open_profile(pilot, 1)
        await pilot.press("r")
        await settle(pilot)

    assert snap_compare(make_console(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_confirm_delete_converted_leads(snap_compare, make_console, size):
    async def before(pilot):
        await open_profile(pilot, 3)
        await pilot.press("c")
        await pilot.pause()

    assert snap_compare(make_console(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_help_and_jump(snap_compare, make_console, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_console(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_jump_box(snap_compare, make_console, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("colon")
        await pilot.pause()
        still(pilot)
        await pilot.pause()

    assert snap_compare(make_console(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("theme", ["syncops-light", "syncops-ansi"])
def test_other_themes(snap_compare, make_console, theme):
    assert snap_compare(make_console(theme=theme), terminal_size=(80, 24), run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_records_behind_a_count(snap_compare, make_console, size):
    async def before(pilot):
        await open_profile(pilot, 2)
        table = pilot.app.screen.query_one("#last")
        table.focus()
        table.move_cursor(row=[k.value for k in table.rows].index("created"))
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_console(), terminal_size=size, run_before=before)
