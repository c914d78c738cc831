"""Directed seeding: a different direction per researcher, so a team does not converge.

Given fewer directions than researchers, aar spreads the rest over the method space's regions
(`aar.agent.REGIONS`, the words the scripted researcher understands), greedily picking the
region that adds the most families no researcher has yet. An LLM researcher reads the same
text as prose, with the region's families named.
"""

from __future__ import annotations

from aar.agent import REGIONS

_NOT_A_DIRECTION = ("controls",)
"""Controls check a finding; they are no direction to research."""


def spread_directions(given: list[str], researchers: int) -> list[tuple[str, bool]]:
    """One (direction, given by the lead?) per researcher: the given ones first, in order."""
    chosen = [(text, True) for text in given[:researchers]]
    covered: set[str] = set()
    for text in given:
        covered |= _families_named(text)
    regions = [r for r in REGIONS if r not in _NOT_A_DIRECTION]
    used: set[str] = set()
    while len(chosen) < researchers:
        fresh = [r for r in regions if r not in used] or regions
        region = max(fresh, key=lambda r: (len(set(REGIONS[r]) - covered), -regions.index(r)))
        used.add(region)
        covered |= set(REGIONS[region])
        chosen.append((f"{region}: {', '.join(REGIONS[region])}", False))
    return chosen


def _families_named(direction: str) -> set[str]:
    from aar.agent import direction_families

    return set(direction_families([direction], strict=False))
