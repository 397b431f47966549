"""Administrative areas and the codes that identify them.

Chinese division codes are hierarchical by prefix:

- 6 digits (GB/T 2260 "adcode"): PP CC DD = province, city, county.
  "450000" is Guangxi, "450100" is Nanning, "450103" is 青秀区.
- 9 digits: a 6-digit county code plus 3 digits for a township (街道/镇/乡).
- 12 digits: a 9-digit township code plus 3 digits for a village or community.
- 15 digits: a 12-digit community code plus 3 digits for a unit grid (网格).
  There is no national grid code; this is the convention our layers use.

So "is X inside Y" is a prefix test once Y's zero padding is removed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "LEVELS", "NANNING", "Area", "Township", "Village", "code_pattern", "code_prefix", "code_within", "map_villages",
    "read_townships", "read_villages", "short_forms",
]

_CODE_LENGTHS = frozenset({6, 9, 12, 15})

# The jurisdiction levels, outermost first. Layers, the index and the
# responsibility matrix all use these labels.
LEVELS = ("city", "county", "township", "community", "grid")
_MCA_TOWNSHIPS = "nanning_townships_mca_20251231.csv"
_NBS_VILLAGES = "nanning_villages_nbs2023.csv"


@dataclass(frozen=True, slots=True)
class Area:
    """An administrative area. ``level`` is a label: ``JurisdictionIndex`` uses
    ``LEVELS`` ("county" for every county-level unit, including 县 and
    county-level 市); the gazetteer (and the demo's ``tools.router``) keep the
    boundary file's own label, "district" for Nanning."""

    code: str
    name: str
    level: str
    parent_code: str | None


NANNING = Area("450100", "南宁市", "city", "450000")


def _check_code(code: str) -> None:
    # isascii() as well as isdigit(): "４５" (full-width) and "²" pass
    # isdigit() but are never valid codes.
    if not (code.isascii() and code.isdigit() and len(code) in _CODE_LENGTHS):
        raise ValueError(f"not a 6-, 9-, 12- or 15-digit division code: {code!r}")


def code_pattern(lengths: Iterable[int] = _CODE_LENGTHS) -> str:
    """A regular expression for division codes of these lengths (all of them by default), for JSON schemas
    and validators. ASCII digits only: a regex `\\d` also matches full-width and other scripts' digits."""
    return "^(?:" + "|".join(f"[0-9]{{{n}}}" for n in sorted(lengths)) + ")$"


def code_prefix(code: str) -> str:
    """The significant prefix of a division code.

    A 6-digit code loses trailing "00" pairs: "450100" -> "4501",
    "450000" -> "45", "450103" -> "450103". A 6-digit code keeps at least
    its 2-digit province part. 9-, 12- and 15-digit codes are returned unchanged:
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


# Suffixes that people drop when they name a place, longest first so that
# "社区居委会" wins over "居委会". Each maps to the extra forms to offer besides
# the bare stem: "兴宁社区居委会" is said "兴宁社区" as well as "兴宁".
_SUFFIXES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "city": (("市", ()),),
    "county": (("区", ()), ("县", ()), ("市", ())),
    "township": (("瑶族乡", ("乡",)), ("民族乡", ("乡",)), ("街道", ()), ("镇", ()), ("乡", ())),
    "community": (
        ("社区居民委员会", ("社区",)), ("社区居委会", ("社区",)), ("村民委员会", ("村",)), ("村委会", ("村",)),
        ("居民委员会", ()), ("居委会", ()), ("生活区", ()), ("社区", ()), ("村", ()),
    ),
}
# NBS statistics-only placeholders ("青秀山虚拟社区"): nobody calls a place that.
_PLACEHOLDER = "虚拟"


def short_forms(name: str, level: str) -> tuple[str, ...]:
    """The common short forms of an area name, without the name itself.

    short_forms("新竹街道", "township") == ("新竹",);
    short_forms("兴宁社区居委会", "community") == ("兴宁社区", "兴宁");
    short_forms("古寨瑶族乡", "township") == ("古寨乡", "古寨"). A stem shorter
    than two characters is not offered: "横县" -> "横" would match far too much
    address text. "district" is accepted for "county". Unknown levels, grids
    and placeholders give ().
    """
    name = name.strip()
    if _PLACEHOLDER in name:
        return ()
    for suffix, extras in _SUFFIXES.get("county" if level == "district" else level, ()):
        stem = name.removesuffix(suffix)
        if stem != name and len(stem) >= 2:
            forms = [stem + extra for extra in extras] + [stem]
            return tuple(dict.fromkeys(f for f in forms if f != name))
    return ()


# ---- division-code tables shipped in geo/data ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Township:
    """A township-level unit (街道/镇/乡) from a code table, without geometry."""

    code: str
    name: str
    county_code: str


@dataclass(frozen=True, slots=True)
class Village:
    """A community/village unit (社区/村) from the NBS 2023 table, with its NBS township."""

    code: str
    name: str
    township_code: str
    township_name: str
    county_code: str


def _data_text(name: str) -> str:
    return (resources.files(__package__ or "geo") / "data" / name).read_text(encoding="utf-8")


def read_townships(text: str | None = None) -> list[Township]:
    """The MCA 2025 township table (default: ``geo/data/nanning_townships_mca_20251231.csv``).

    Pass ``text`` (same columns: code9,name,county_adcode) to read another table.
    """
    rows = csv.DictReader(io.StringIO(_data_text(_MCA_TOWNSHIPS) if text is None else text))
    return [Township(r["code9"], r["name"], r["county_adcode"]) for r in rows]


def read_villages(text: str | None = None) -> list[Village]:
    """The NBS 2023 community/village table (default: ``geo/data/nanning_villages_nbs2023.csv``)."""
    rows = csv.DictReader(io.StringIO(_data_text(_NBS_VILLAGES) if text is None else text))
    return [Village(r["code12"], r["name"], r["township_code9"], r["township_name"], r["county_adcode"])
            for r in rows]


def map_villages(villages: Sequence[Village], townships: Sequence[Township]) -> tuple[dict[str, str], Counter[str]]:
    """Assign every NBS 2023 village to one of ``townships`` (the current MCA units) of its county.

    NBS township codes drift from MCA ones (renumbered towns, statistics-only units such as 开发区).
    Rules, first match wins:

    1. ``same_code``: the village's NBS township code is a current township code.
    2. ``same_name``: a township of the same county has the NBS township's name (renumbered).
    3. ``name_hint``: a township's name or short form (at least 2 characters) occurs in the village
       name, else in the NBS unit's name ("南宁六景工业园区" -> 六景镇); the longest form wins, then
       the lowest code.
    4. ``fallback``: the county's lowest-coded township, i.e. its first 街道 or its seat town (城厢镇,
       横州镇 ...), where such units are usually administered from.

    Returns (village code -> township code, count of villages per rule). A village whose county has
    no township at all raises ValueError.
    """
    by_code = {t.code: t for t in townships}
    by_county: dict[str, list[Township]] = {}
    for t in sorted(townships, key=lambda t: t.code):
        by_county.setdefault(t.county_code, []).append(t)
    out: dict[str, str] = {}
    rules: Counter[str] = Counter()
    for v in villages:
        candidates = by_county.get(v.county_code)
        if not candidates:
            raise ValueError(f"village {v.code}: no township in county {v.county_code}")
        rule, target = _match_village(v, by_code, candidates)
        out[v.code] = target
        rules[rule] += 1
    return out, rules


def _match_village(v: Village, by_code: dict[str, Township], candidates: list[Township]) -> tuple[str, str]:
    if v.township_code in by_code and by_code[v.township_code].county_code == v.county_code:
        return "same_code", v.township_code
    named = [t for t in candidates if t.name == v.township_name]
    if named:
        return "same_name", named[0].code
    for text in (v.name, v.township_name):
        hits = [(len(form), t.code) for t in candidates
                for form in (t.name, *short_forms(t.name, "township")) if len(form) >= 2 and form in text]
        if hits:
            return "name_hint", min(hits, key=lambda h: (-h[0], h[1]))[1]
    return "fallback", candidates[0].code
