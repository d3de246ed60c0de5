"""How many sync profiles an account's plan allows (SyncApps publishes only the Free numbers)."""
from __future__ import annotations

ADDON_EXTRA_PROFILES = "additional-2-sync-profiles"

PLAN_PROFILE_LIMITS: dict[str, int | None] = {"free": 1, "pro": 10, "enterprise": None}


def profile_limit(plan: str, addons: list[str]) -> int | None:
    """None means unlimited."""
    if plan not in PLAN_PROFILE_LIMITS:
        raise ValueError(f"unknown plan {plan!r}; expected one of {', '.join(PLAN_PROFILE_LIMITS)}")
    limit = PLAN_PROFILE_LIMITS[plan]
    if plan == "free" and ADDON_EXTRA_PROFILES in addons:
        return 3
    return limit


def refusal_for_new_profile(plan: str, addons: list[str], existing: int) -> str | None:
    """The message an operator sees when one more profile is over the limit, else None."""
    limit = profile_limit(plan, addons)
    if limit is None or existing < limit:
        return None
    if plan == "free" and ADDON_EXTRA_PROFILES not in addons:
        hint = 'buy the "Additional 2 Sync Profiles" add-on (3 profiles) or upgrade to Pro (10) or Enterprise (unlimited)'
    elif plan == "free":
        hint = "upgrade to Pro (10 profiles) or Enterprise (unlimited)"
    else:
        hint = "upgrade to Enterprise (unlimited profiles)"
    return f"the {plan} plan allows {limit} sync profile{'s' if limit != 1 else ''} and {existing} exist; {hint}"


def plan_label(plan: str, addons: list[str]) -> str:
    label = plan.capitalize()
    return f"{label} + 2 profiles" if ADDON_EXTRA_PROFILES in addons else label
