"""Command palette: jump to any profile, or to a record by typing its email or CRM id."""
from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from engine.text import inert


class SyncopsCommands(Provider):
    async def discover(self) -> Hits:
        for profile in self.app.ws.profiles():
            yield DiscoveryHit(f"Open profile {inert(profile.name)}", partial(self.app.open_profile, profile.id),
                               help=inert(profile.key))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for profile in self.app.ws.profiles():
            title = f"Open profile {inert(profile.name)}"
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.open_profile, profile.id),
                          help=inert(profile.key))
        text = query.strip()
        if "@" in text or text.isdigit():
            yield Hit(1.0, f"Open record {inert(text, 80)}", partial(self.app.open_record, text),
                      help="flow history by email or CRM id")
