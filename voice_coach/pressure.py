"""The pressure scale and the body zones with their safety caps.

Named levels are anchored to the practitioners' 1-10 comfort scale: light 3, medium 5, firm 6,
deep 7. Deep (7, "the therapeutic edge") is the hard ceiling for a lay giver; 8+ just hurts.
The source article: never a lot of pressure on the lower back, the neck or the spine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Level(IntEnum):
    LIGHT = 0
    MEDIUM = 1
    FIRM = 2
    DEEP = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def scale(self) -> int:
        """The level on the practitioners' 1-10 comfort scale."""
        return _SCALE[self]

    @classmethod
    def parse(cls, name: str) -> Level:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown pressure {name!r} (use one of {', '.join(LEVEL_NAMES)})") \
                from None


_SCALE = {Level.LIGHT: 3, Level.MEDIUM: 5, Level.FIRM: 6, Level.DEEP: 7}
LEVEL_NAMES: tuple[str, ...] = tuple(level.label for level in Level)


@dataclass(frozen=True)
class Zone:
    name: str
    spoken: str  # how the coach names it in a sentence
    cap: Level
    why_capped: str  # said when "harder" meets the cap


ZONES: dict[str, Zone] = {z.name: z for z in (
    Zone("prep", "the preparation", Level.DEEP,
         "we haven't started yet"),
    Zone("back", "the whole back", Level.MEDIUM,
         "these long strokes cross the spine and the lower back, so keep them medium at most"),
    Zone("upper_back", "the upper back beside the spine", Level.DEEP,
         "deep is as far as a home massage should go"),
    Zone("shoulders", "the shoulders", Level.DEEP,
         "deep is as far as a home massage should go"),
    Zone("lower_back", "the lower back", Level.LIGHT,
         "the lower back only ever gets light pressure"),
    Zone("neck", "the back of the neck", Level.LIGHT,
         "the neck only ever gets light pressure, and never the front or sides"),
    Zone("spine", "the spine", Level.LIGHT,
         "never press on the spine itself; work on the muscles beside it"),
)}


def cap_for(zone: str, step_cap: Level | None = None) -> Level:
    """The highest pressure allowed: the zone's cap, lowered further by the step's own cap."""
    cap = ZONES[zone].cap
    return min(cap, step_cap) if step_cap is not None else cap
