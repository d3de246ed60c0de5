"""`syncops sandbox reset`: demo accounts, credentials, profiles and fake data, from a seed."""
from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from .. import config
from ..model import Account, Options, Segments
from .seed import build_demo

if TYPE_CHECKING:
    from ..workspace import Workspace


def _forget_sandbox_profiles(ws: "Workspace", sandbox_accounts: set[str]) -> None:
    doomed = [p for p in ws.profiles() if p.account in sandbox_accounts]
    for profile in doomed:
        for folder in (ws.layout.profile_dir(profile.id), ws.layout.history_dir(profile.id)):
            shutil.rmtree(folder, ignore_errors=True)
    ids = [p.id for p in doomed]
    with ws.profiles_repo.file.writing():
        ws.profiles_repo.table.bulk_remove(ids)
    with ws.cursors.file.writing():
        ws.cursors.table.bulk_remove(ids)
    with ws.runs.file.writing():
        ws.runs.table.bulk_remove([r["doc_id"] for r in ws.runs.all() if r["profile_id"] in ids])
    if not ws.profiles():
        shutil.rmtree(ws.history_keys.folder, ignore_errors=True)


def reset_sandbox(ws: "Workspace", records: int, seed: int, leads: int | None = None) -> dict:
    if records < 10:
        raise ValueError("the sandbox needs at least 10 records")
    accounts, profiles = build_demo(records, seed, leads)
    existing = {}
    try:
        existing = ws.accounts()
    except config.ConfigError:
        pass  # a broken accounts file is replaced by the demo one
    sandbox_ids = {a.id for a in accounts} | {a.id for a in existing.values() if a.sandbox}
    sandbox = ws.sandbox
    with sandbox.lock:
        _forget_sandbox_profiles(ws, sandbox_ids)
        for stale in ws.layout.sandbox.glob("account-*"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        sandbox.state.accounts = {a.id: a.sandbox for a in accounts}
        sandbox.state.save(only_dirty=False)
    config.write_sandbox_credentials(ws.layout, {a.id: a.credentials.as_toml_table() for a in accounts})
    keep = [a for a in existing.values() if not a.sandbox and a.id not in sandbox_ids]
    config.write_accounts(ws.layout, keep + [Account(a.id, a.name, a.plan, a.addons, "US", sandbox=True)
                                             for a in accounts])
    created = []
    for demo in profiles:
        options = Options(field_mapping=demo.field_mapping, delete_converted_leads=demo.delete_converted_leads,
                          schedule_minutes=demo.schedule_minutes)
        segments = Segments(campaigns=demo.campaigns, views=demo.views,
                            all_active_campaigns=demo.all_active_campaigns)
        created.append(ws.add_profile(demo.account, demo.object_type, demo.audience_id,
                                      name=f"{demo.name} → {sandbox.state.accounts[demo.account].mailchimp.audiences[demo.audience_id].name}",
                                      options=options, segments=segments, actor="sandbox reset"))
    counts = {a.id: {m: len(r) for m, r in a.sandbox.zoho.modules.items()} |
              {"members": sum(len(x.members) for x in a.sandbox.mailchimp.audiences.values())} for a in accounts}
    return {"accounts": [a.id for a in accounts], "profiles": [p.key for p in created], "records": counts}
