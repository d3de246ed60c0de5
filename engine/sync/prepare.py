"""Before a run reads records: field metadata, merge fields, selections and their tags."""
from __future__ import annotations

from ..clock import parse_iso
from ..model import BASIC_MAPPINGS, Profile
from ..rules.records import tag_name
from .context import RunContext
from .crm_to_mc import Selection
from ..store.index import ProfileIndex
from .fieldbits import FieldBits

ALWAYS_READ = ["Email", "First_Name", "Last_Name", "Phone", "Email_Opt_Out", "Owner", "Created_Time",
               "Modified_Time"]
LEADS_READ = ["Converted__s", "Converted_Date_Time"]
MAX_FIELDS = 50


async def load_metadata(ctx: RunContext) -> dict:
    """CRM field metadata and merge fields, cached per profile; refreshed on a full run."""
    meta = ctx.state.get("meta")
    if meta and not ctx.full:
        return meta
    module = ctx.profile.object_type.value
    fields = await ctx.zoho.fields(module)
    merge = await ctx.mailchimp.merge_fields(ctx.profile.audience_id)
    meta = {"fields": [{"api_name": f["api_name"], "label": f.get("field_label") or f["api_name"],
                        "custom": bool(f.get("custom_field"))} for f in fields if isinstance(f, dict)
                       and isinstance(f.get("api_name"), str)],
            "merge_fields": [{"tag": m["tag"], "name": m.get("name") or m["tag"]} for m in merge
                             if isinstance(m, dict) and isinstance(m.get("tag"), str)]}
    ctx.state["meta"] = meta
    return meta


def fields_to_read(profile: Profile, meta: dict) -> list[str]:
    """What the sync needs, then every other field so unmapped data can be counted (Zoho allows 50)."""
    wanted = ALWAYS_READ + (LEADS_READ if profile.object_type.value == "Leads" else [])
    wanted += [m.crm_field for m in profile.mappings]
    wanted += [f["api_name"] for f in meta["fields"]]
    unique = list(dict.fromkeys(wanted))
    return unique[:MAX_FIELDS]


SELECTION_NAMES_TTL_S = 3600


async def _selection_names(ctx: RunContext) -> dict:
    """Campaign and view names (and which campaigns are active), cached for an hour or until a full run."""
    cached = ctx.state.get("selection_names")
    if cached and not ctx.full and (ctx.clock() - parse_iso(cached["at"])).total_seconds() < SELECTION_NAMES_TTL_S:
        return cached
    profile, zoho = ctx.profile, ctx.zoho
    names: dict = {"at": ctx.now(), "campaigns": {}, "active": [], "views": {}}
    if profile.segments.campaigns or profile.segments.all_active_campaigns:
        for campaign in await zoho.campaigns():
            names["campaigns"][campaign["id"]] = str(campaign.get("Campaign_Name") or campaign["id"])
            if campaign.get("Status") == "Active":
                names["active"].append(campaign["id"])
    if profile.segments.views:
        names["views"] = {v["id"]: str(v.get("name") or v["id"])
                          for v in await zoho.custom_views(profile.object_type.value)}
    ctx.state["selection_names"] = names
    return names


async def selections(ctx: RunContext) -> list[Selection]:
    """Step 1 segmentation as tags; creates missing tags (not on a dry run)."""
    profile = ctx.profile
    if not (profile.segments.campaigns or profile.segments.all_active_campaigns or profile.segments.views):
        return []
    names = await _selection_names(ctx)
    wanted = set(profile.segments.campaigns) | (set(names["active"]) if profile.segments.all_active_campaigns else set())
    chosen = [Selection("campaign", cid, tag_name("campaign", names["campaigns"][cid]))
              for cid in sorted(wanted) if cid in names["campaigns"]]
    chosen += [Selection("view", vid, tag_name("view", names["views"][vid]))
               for vid in profile.segments.views if vid in names["views"]]
    known = dict(ctx.state.get("tag_ids", {}))
    if any(s.tag not in known for s in chosen):
        known |= await ctx.mailchimp.tags(profile.audience_id)
    for selection in chosen:
        if selection.tag not in known and not ctx.dry_run:
            known[selection.tag] = await ctx.mailchimp.create_tag(profile.audience_id, selection.tag)
        selection.segment_id = known.get(selection.tag, "")
    ctx.state["tag_ids"] = known
    return chosen


def unmapped_fields(profile: Profile, meta: dict, index: ProfileIndex, crm_bits: FieldBits,
                    merge_bits: FieldBits) -> dict:
    """CRM fields holding data with no mapping, and merge fields with no mapping, with counts."""
    mapped_crm = {m.crm_field for m in profile.mappings} | {"Email", "Email_Opt_Out"}
    mapped_merge = {m.merge_tag for m in profile.mappings}
    system = set(ALWAYS_READ) | set(LEADS_READ) | {"Full_Name", "Owner"}
    crm_counts = crm_bits.count(index.filled_masks("records", b'"status":"synced"'))
    merge_counts = merge_bits.count(index.filled_masks("members"))
    labels = {f["api_name"]: f["label"] for f in meta.get("fields", [])}
    crm = [{"field": name, "label": labels.get(name, name), "records": count}
           for name, count in crm_counts.items() if name not in mapped_crm and name not in system and name in labels]
    merge = [{"tag": m["tag"], "name": m["name"], "records": merge_counts.get(m["tag"], 0)}
             for m in meta.get("merge_fields", []) if m["tag"] not in mapped_merge]
    return {"crm_fields": sorted(crm, key=lambda r: (-r["records"], r["field"])),
            "merge_fields": sorted(merge, key=lambda r: (-r["records"], r["tag"])),
            "basic_mapped": [f"{m.crm_field} ↔ {m.merge_tag}" for m in BASIC_MAPPINGS]}
