"""Division codes as the domain needs them: nesting by prefix and the level a code names.

The same rules as `geo.areas` (GB/T 2260 six digits, then three-digit township and community groups),
repeated here because importing `geo` would pull shapely into the pure domain.
"""

from __future__ import annotations

from typing import Final

LEVELS: Final = ("city", "county", "township", "community", "grid")


def prefix(code: str) -> str:
    if len(code) != 6:
        return code
    out = code
    while len(out) > 2 and out.endswith("00"):
        out = out[:-2]
    return out


def within(code: str, area: str) -> bool:
    """True when `code` is `area` or lies inside it."""
    return code.startswith(prefix(area))


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
