"""Administrative areas and the codes that identify them.

Chinese division codes are hierarchical by prefix:

- 6 digits (GB/T 2260 "adcode"): PP CC DD = province, city, county.
  "450000" is Guangxi, "450100" is Nanning, "450103" is 青秀区.
- 9 digits: a 6-digit county code plus 3 digits for a township (街道/镇/乡).
- 12 digits: a 9-digit township code plus 3 digits for a village or community.

So "is X inside Y" is a prefix test once Y's zero padding is removed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NANNING", "Area", "code_prefix", "code_within"]

_CODE_LENGTHS = frozenset({6, 9, 12})


@dataclass(frozen=True, slots=True)
class Area:
    """An administrative area. ``level`` is the data's own label, e.g. "city",
    "district" (this label covers every county-level unit, including 县 and
    county-level 市)."""

    code: str
    name: str
    level: str
    parent_code: str | None


NANNING = Area("450100", "南宁市", "city", "450000")


def _check_code(code: str) -> None:
    # isascii() as well as isdigit(): "４５" (full-width) and "²" pass
    # isdigit() but are never valid codes.
    if not (code.isascii() and code.isdigit() and len(code) in _CODE_LENGTHS):
        raise ValueError(f"not a 6-, 9- or 12-digit division code: {code!r}")


def code_prefix(code: str) -> str:
    """The significant prefix of a division code.

    A 6-digit code loses trailing "00" pairs: "450100" -> "4501",
    "450000" -> "45", "450103" -> "450103". A 6-digit code keeps at least
    its 2-digit province part. 9- and 12-digit codes are returned unchanged:
    their tails are 3-digit groups, and "000" there is a real code in some
    statistical tables, not padding. Raises ValueError for anything else.
    """
    _check_code(code)
    if len(code) != 6:
        return code
    prefix = code
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def code_within(code: str, ancestor: str) -> bool:
    """True when ``code`` is ``ancestor`` or lies inside it.

    code_within("450103001", "450100") is True (a 青秀区 township lies in
    Nanning). code_within("450102", "450103") is False (sibling counties).
    Raises ValueError if either argument is not a valid code.
    """
    _check_code(code)
    return code.startswith(code_prefix(ancestor))
