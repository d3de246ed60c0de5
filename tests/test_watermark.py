"""Cursor semantics at second resolution: nothing at the cursor's second is lost or read twice."""
from engine.sync.watermark import Watermark

T = "2026-11-20T10:00:00+00:00"


def test_an_open_cursor_rereads_its_second_and_skips_only_identical_items():
    mark = Watermark({"time": T, "seen": {}}, since_is_inclusive=False)
    assert mark.since == "2026-11-20T09:59:59+00:00"
    first = Watermark(None, since_is_inclusive=False)
    assert not first.already_read(T, "a", {"v": 1})
    cursor = first.advanced(T)  # the read began within the cursor's second
    assert cursor["time"] == T and "closed" not in cursor
    again = Watermark(cursor, since_is_inclusive=False)
    assert again.already_read(T, "a", {"v": 1})
    assert not again.already_read(T, "a", {"v": 2})  # changed within the same second: read again
    assert not again.already_read(T, "b", {"v": 1})


def test_a_cursor_whose_second_ended_before_the_read_began_is_closed():
    mark = Watermark(None, since_is_inclusive=True)
    mark.already_read(T, "a", {"v": 1})
    assert "closed" not in mark.advanced(T)  # the read began within that second: more may come
    cursor = mark.advanced("2026-11-20T10:00:01+00:00")
    assert cursor == {"time": T, "closed": True}
    closed = Watermark(cursor, since_is_inclusive=True)
    assert closed.since == "2026-11-20T10:00:01+00:00"
    assert closed.already_read(T, "z", {"new": True})
    assert not closed.already_read("2026-11-20T10:00:01+00:00", "a", {"v": 1})


def test_the_cursor_never_passes_the_phase_start():
    mark = Watermark(None, since_is_inclusive=False)
    mark.already_read("2026-11-20T10:05:00+00:00", "a", {})
    assert mark.advanced(T) == {"time": T, "seen": {}}
