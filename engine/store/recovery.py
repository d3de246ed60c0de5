"""What happens when a store file cannot be read: it is moved aside, and this says what was rebuilt."""
from __future__ import annotations

import os
import shutil
import time

from .history import HistoryKeys, read_segment, segment_numbers
from .layout import Layout
from .storage import StoreCorrupt, read_json_file

REBUILT = {
    "config.json": "profiles were restored from config.json.bak",
    "state.json": "cursors were reset, so the next run of each profile re-matches everything",
    "runs.json": "run history starts afresh (flow history is intact)",
    "audit.json": "the audit log starts afresh from here",
}


def check_hot_files(layout: Layout) -> list[str]:
    """Read each small store file once; a broken one is moved aside and its loss explained."""
    notices = []
    for name, rebuilt in REBUILT.items():
        try:
            read_json_file(layout.store / name)
        except StoreCorrupt as exc:
            backup = layout.store / "config.json.bak"
            if name == "config.json":
                if backup.exists():
                    shutil.copy2(backup, layout.store / name)
                else:
                    rebuilt = "no backup was found: recreate the profiles with `syncops profile add`"
            notices.append(f"{exc.path} was unreadable ({exc.reason}); moved to {exc.moved_to}; {rebuilt}.")
    return notices


def rebuild_history_keys(layout: Layout, keys: HistoryKeys, why: str) -> int:
    """The key index is derived data: set the old files aside and rebuild it from every profile's segments."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for old in [*keys.folder.glob("keys-*.json"), *keys.folder.glob("keys-*.tsv")]:
        os.replace(old, old.with_name(f"{old.name}.replaced-{stamp}-{os.getpid()}"))
    keys.pending.clear()
    count = 0
    for folder in sorted(p for p in (layout.store / "history").glob("*") if p.is_dir() and p.name.isdigit()):
        for number in segment_numbers(folder):
            for event in read_segment(layout.store, int(folder.name), number):
                keys.note(event, (int(folder.name), number))
                count += 1
    keys.flush()
    keys.notices.append(f"{why}; the history key index was rebuilt from {count} events (old files kept as *.replaced-*).")
    return count
