"""Division codes as the domain needs them: nesting by prefix and the level a code names.

Nesting comes from `geo.areas` (GB/T 2260 six digits, then three-digit township, community and grid
groups): one rule for the whole project. `geo.areas` imports no geometry library.
"""

from __future__ import annotations

from typing import Final

from geo.areas import code_within

LEVELS: Final = ("city", "county", "township", "community", "grid")


def within(code: str, area: str) -> bool:
    """True when `code` is `area` or lies inside it (the rule of geo.areas.code_within)."""
    return code_within(code, area)


def level_of(code: str) -> str:
    """The level a division code names: 4501 00 → city, 450103 → county, 9 digits → township, ..."""
    digits = code.split("-", 1)[0]
    if len(digits) == 6:
        return "city" if digits.endswith("00") else "county"
    if len(digits) == 9:
        return "township"
    if len(digits) == 12:
        return "community"
    return "grid"


def unit_level(unit: dict[str, str] | None) -> str | None:
    """A unit's level: stated by the matrix, else read from its code ("450103001-gov" is a township's)."""
    if unit is None:
        return None
    return unit.get("level") or level_of(unit["code"])
