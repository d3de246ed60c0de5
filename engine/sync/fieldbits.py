"""Sets of field names as integers, for indexes that hold one per record."""
from __future__ import annotations

from collections import Counter


class FieldBits:
    """Which fields hold data, as one int per record against a per-profile list of names: the index
    stores a number instead of a list of names for each of 100k records."""

    def __init__(self, names: list[str]) -> None:
        self.names = names  # lives in the profile's state, so positions never change
        self.position = {name: n for n, name in enumerate(names)}

    def encode(self, names) -> int:
        bits = 0
        for name in names:
            if name not in self.position:
                self.position[name] = len(self.names)
                self.names.append(name)
            bits |= 1 << self.position[name]
        return bits

    def count(self, masks) -> dict[str, int]:
        """How many of the masks have each field (100k records share a few hundred distinct masks)."""
        counts = [0] * len(self.names)
        for bits, times in Counter(masks).items():
            while bits:
                low = bits & -bits
                counts[low.bit_length() - 1] += times
                bits ^= low
        return {name: counts[n] for n, name in enumerate(self.names) if counts[n]}
