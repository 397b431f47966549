"""Place a hotline ticket that carries only an address text (PRODUCT.md §4.2).

Every county, township and community/village name is indexed with its spoken
forms (geo.address_normalize). match() finds them in the text, builds the
chains county → township → community they can belong to, and keeps the one
the text supports best. A rival chain with comparable evidence of its own
(新兴社区 exists in five counties) makes the levels where they differ
ambiguous: the hub sends such a case to triage, it never guesses.

Each form found has a score in [0, 1] (address_normalize.form_score). A
level's confidence combines the hits on its chain as independent evidence,
1 - Π(1 - s); a parent named in the text lends a child only part of its score
(_PARENT_WEIGHT), more when written right before it ("青秀区竹溪": _ADJACENT_WEIGHT).

find_in_text() reads a complaint's prose the same way ("我在双义村这边，道路积水"), with one
difference: in prose a bare name is as likely a word (江南菜, 大丰收, 很伶俐) as a place,
so bare names and near misses count for less there (_PROSE_WEIGHT) and a place is
routed on only when the text spells out what it is (双义村, 金陵镇, 石埠街道).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from geo import address_normalize as an
from geo.areas import Area

__all__ = ["TEXT_SCAN_CHARS", "AddressMatch", "Gazetteer", "Level"]

Level = Literal["county", "township", "community"]
_LEVELS: tuple[Level, ...] = ("county", "township", "community")
_DEPTH = {"district": 1, "township": 2, "township_nbs": 2, "community": 3}

# One edit away from a name of 3, 4, 5+ characters: 2 of 3 right is a hint only.
_FUZZY = {3: 0.6, 4: 0.75, 5: 0.8}
_PARENT_WEIGHT = {(1, 2): 0.5, (1, 3): 0.45, (2, 3): 0.6}  # (parent depth, child depth)
_ADJACENT_WEIGHT = 0.8
# A rival reading counts when its own evidence is at least this share of the
# best one's, and at least _RIVAL_MIN unless the best is weaker still.
_RIVAL_RATIO, _RIVAL_MIN = 0.7, 0.7
_OUTSIDE = "!outside"  # pseudo-code of "another city"
_MAX_WINDOW = 8  # longest misspelt name looked for before 社区/村
# Prose: what a bare name or a near miss is worth there, relative to an address field. 0.7 takes the surest
# bare name (a county's, 0.9) below the threshold on its own; with a spelt-out name beside it, it still helps.
_PROSE_WEIGHT = 0.7
# Prose: how much of a complaint is read. Places are named early, and the cost of the near-miss scan grows
# with every 村 and 社区 in the text (a 10,000-character worst case took 0.2 s; 2,000 take ~10 ms).
TEXT_SCAN_CHARS = 2_000


class _Entry(NamedTuple):
    code: str
    depth: int
    score: float
    short: bool


class _Hit(NamedTuple):
    start: int
    end: int
    entries: tuple[_Entry, ...]  # empty for filler words (村口)


class _Chain(NamedTuple):
    path: tuple[str, ...]  # codes from county down to the deepest area
    score: float
    support: tuple[tuple[int, _Entry], ...]  # (hit index, that hit's entry on this path)


@dataclass(frozen=True, slots=True)
class AddressMatch:
    """Where a text puts a case.

    ``level``: the deepest level with ``confidence`` ≥ threshold and no rival
    reading; ``areas`` holds it and its parents (a township can be a
    statistics-only unit, Area.level "township_nbs"). ``ambiguous``: the places
    the text could mean when it does not decide. ``suggestion``: the deepest
    area found when unambiguous but too weak to route on. ``outside``: the text
    names another city.
    """

    level: Level | None
    areas: dict[str, Area]
    confidence: float
    ambiguous: tuple[Area, ...] = ()
    matched: dict[str, str] = field(default_factory=dict)
    suggestion: Area | None = None
    outside: bool = False
    threshold: float = 0.8

    @property
    def confident(self) -> bool:
        return self.level is not None and self.confidence >= self.threshold


class Gazetteer:
    """Address-text matcher over areas linked by ``parent_code``, with Area.level
    "district" (any county-level unit), "township", "township_nbs" or "community"
    (社区 and 村 alike). Read-only once built, so it can be shared between threads."""

    def __init__(self, areas: Iterable[Area], *, threshold: float = 0.8) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        self.threshold = threshold
        self.notes: dict[str, int] = {}
        self._areas = {a.code: a for a in areas if a.level in _DEPTH}
        self._paths = {code: self._path_of(code) for code in self._areas}
        for code, path in self._paths.items():
            if len(path) != _DEPTH[self._areas[code].level]:  # the chains below index paths by depth
                raise ValueError(f"{code} {self._areas[code].name}: parents do not lead up to a county")
        self._paths[_OUTSIDE] = (_OUTSIDE,)
        index: dict[str, list[_Entry]] = {}
        for area in self._areas.values():
            self._index_area(area, index)
        self._drop_shadowed_shorts(index)
        # setdefault: a Nanning name that is also a city elsewhere stays Nanning's.
        for city in an.OTHER_CITIES:
            index.setdefault(city + "市", [_Entry(_OUTSIDE, 1, 1.0, False)])
            index.setdefault(city, [_Entry(_OUTSIDE, 1, 0.9, False)])
        for province in an.OTHER_PROVINCES:
            index.setdefault(province, [_Entry(_OUTSIDE, 1, 1.0, False)])
        for word in an.FILLER_WORDS:
            index.setdefault(word, [])
        self._index = {k: tuple(v) for k, v in index.items()}
        lengths: dict[str, set[int]] = {}
        for key in self._index:
            lengths.setdefault(key[0], set()).add(len(key))
        self._lengths = {c: sorted(ls, reverse=True) for c, ls in lengths.items()}
        self._fuzzy = self._fuzzy_choices()

    @classmethod
    def from_data_dir(cls, path: Path | None = None, *, threshold: float = 0.8) -> Gazetteer:
        """Build from the Nanning files in ``path`` (default: geo/data)."""
        areas, notes = _load_areas(path or Path(__file__).parent / "data")
        gazetteer = cls(areas, threshold=threshold)
        gazetteer.notes = notes
        return gazetteer

    def area(self, code: str) -> Area:
        return self._areas[code]

    def areas(self) -> list[Area]:
        return list(self._areas.values())

    def find_in_text(self, text: str) -> AddressMatch:
        """Where a complaint's own words put it: match() over the start of free text, read as prose (bare
        names and near misses weigh less). The same index, evidence and ambiguity rules: a village name
        two villages share is ambiguous here too. ``matched`` holds the words the place was read from."""
        return self.match(text[:TEXT_SCAN_CHARS], prose=True)

    def match(self, text: str, *, prose: bool = False) -> AddressMatch:
        nt = an.normalize(text)
        hits = self._scan(nt.text)
        near = self._fuzzy_hits(nt.text, hits)
        if prose:
            hits = [h._replace(entries=tuple(e._replace(score=e.score * _PROSE_WEIGHT) if e.short else e
                                             for e in h.entries)) for h in hits]
            near = [h._replace(entries=tuple(e._replace(score=e.score * _PROSE_WEIGHT) for e in h.entries))
                    for h in near]
        hits += near
        if not hits:
            return AddressMatch(None, {}, 0.0, threshold=self.threshold)
        best, rivals = self._chains(hits)
        if best.path[0] == _OUTSIDE:
            return AddressMatch(None, {}, 0.0, outside=True, threshold=self.threshold)
        split = min((d for d, _ in rivals), default=len(best.path) + 1)  # first undecided depth
        conf = self._confidences(best, hits)
        depth = 0
        while depth < len(best.path) and depth + 1 < split and conf[depth] >= self.threshold:
            depth += 1
        # Each reading's deepest place: 新兴社区 → five communities, 马山 → 马山县 and 马山镇.
        candidates = dict.fromkeys([best.path[-1]] + [c.path[-1] for _, c in rivals]) if rivals else {}
        ambiguous = tuple(self._areas[c] for c in candidates if c != _OUTSIDE)
        # Nothing to route on: an undecided county shares its confidence between the readings.
        confidence = conf[depth - 1] if depth else conf[0] / len(candidates) if split == 1 else conf[0]
        matched: dict[str, str] = {}
        for hi, entry in best.support:
            if entry.depth <= depth:
                matched.setdefault(_LEVELS[entry.depth - 1], nt.original(text, hits[hi].start, hits[hi].end))
        return AddressMatch(
            level=_LEVELS[depth - 1] if depth else None,
            areas={_LEVELS[d]: self._areas[best.path[d]] for d in range(depth)},
            confidence=round(confidence, 4),
            ambiguous=ambiguous,
            matched=matched,
            suggestion=self._areas[best.path[-1]] if depth < len(best.path) < split else None,
            outside=_OUTSIDE in candidates,
            threshold=self.threshold,
        )

    # -- building ---------------------------------------------------------------------

    def _path_of(self, code: str) -> tuple[str, ...]:
        path = [code]
        while (parent := self._areas[path[-1]].parent_code) in self._areas and parent not in path:
            path.append(parent)
        return tuple(reversed(path))

    def _index_area(self, area: Area, index: dict[str, list[_Entry]]) -> None:
        depth = _DEPTH[area.level]
        forms = (an.county_forms, an.township_forms, an.community_forms)[depth - 1](area.name)
        for surface, kind in forms:
            score = an.form_score(depth, kind, surface, statistical=area.level == "township_nbs")
            index.setdefault(surface, []).append(_Entry(area.code, depth, score, kind == "short"))

    def _drop_shadowed_shorts(self, index: dict[str, list[_Entry]]) -> None:
        """A bare name shared by several levels means the one people mean: a county
        over its own township (横州, 良庆), any county or township over a community
        (三塘 is the town, not 三塘村), an official township over a statistics-only
        unit (六景). 马山 (马山县; 马山镇 in 横州市) keeps both and stays ambiguous."""

        def shadowed(e: _Entry, o: _Entry) -> bool:
            if o.depth < e.depth:
                return e.depth == 3 or self._paths[e.code][o.depth - 1] == o.code
            return (
                o.depth == e.depth == 2
                and self._areas[e.code].level == "township_nbs"
                and self._areas[o.code].level == "township"
            )

        for key, entries in index.items():  # the shallowest entry is never shadowed: none empties
            index[key] = [e for e in entries if not (e.short and any(shadowed(e, o) for o in entries))]

    def _fuzzy_choices(self) -> dict[tuple[str, int], tuple[list[str], list[list[str]]]]:
        # Bare community names of 3+ characters by (社 or 村, length), for near misses.
        groups: dict[tuple[str, int], dict[str, list[str]]] = {}
        for area in self._areas.values():
            core = an.community_core(area.name)
            if area.level == "community" and "虚拟" not in area.name and core != area.name and len(core) >= 3:
                kind = "村" if area.name.endswith(("村委会", "村民委员会")) else "社"
                groups.setdefault((kind, len(core)), {}).setdefault(core, []).append(area.code)
        return {k: (list(v), list(v.values())) for k, v in groups.items()}

    # -- matching ---------------------------------------------------------------------

    def _scan(self, norm: str) -> list[_Hit]:
        """Every indexed name in the text, then the best non-overlapping set of them."""
        found: list[_Hit] = []
        for i, ch in enumerate(norm):
            for length in self._lengths.get(ch, ()):  # longest first: see best_cover
                end = i + length
                entries = self._index.get(norm[i:end]) if end <= len(norm) else None
                if entries is None:
                    continue
                if entries and norm.startswith(an.ROAD_SUFFIXES, end) and not norm.startswith(an.NOT_ROADS, end):
                    entries = tuple(e for e in entries if not e.short)  # 朝阳路 is a road, not 朝阳街道
                    if not entries:
                        continue
                found.append(_Hit(i, end, entries))
        # "校椅镇圩上": the 镇 ends 校椅镇, so the bare 镇圩 (镇圩瑶族乡) starting on it is a misreading.
        named_ends = {h.end for h in found if any(not e.short for e in h.entries)}
        for k, h in enumerate(found):
            if norm[h.start] in an.LEVEL_CHARS and h.start + 1 in named_ends and any(e.short for e in h.entries):
                found[k] = h._replace(entries=tuple(e for e in h.entries if not e.short))
        found = [h for h in found if h.entries or norm[h.start : h.end] in an.FILLER_WORDS]
        spans = [(h.start, h.end, max((e.score for e in h.entries), default=0.0)) for h in found]
        # Filler words (村口) only helped to split the text.
        return [found[k] for k in an.best_cover(len(norm), spans) if found[k].entries]

    def _fuzzy_hits(self, norm: str, hits: list[_Hit]) -> list[_Hit]:
        """Names one edit away from a community name of 3+ characters, right before 社区/居委/村."""
        if any(e.depth == 3 and not e.short for h in hits for e in h.entries):
            return []  # an exact community name is there; near misses would only add noise
        found: list[_Hit] = []
        for p in range(2, len(norm)):
            if norm.startswith(("社区", "居委"), p):
                kind = "社"
            elif norm[p] == "村" and norm[p - 1] != "村":
                kind = "村"
            else:
                continue
            # The name cannot reach back into a county or township already read.
            lo = max([p - _MAX_WINDOW] + [h.end for h in hits if h.end <= p and min(e.depth for e in h.entries) < 3])
            scores: dict[str, float] = {}
            start = p
            for k in range(2, p - lo + 1):
                for length in (k - 1, k, k + 1):
                    cores, codes = self._fuzzy.get((kind, length), ([], []))
                    window = norm[p - k : p]
                    near = process.extract(window, cores, scorer=Levenshtein.distance, score_cutoff=1, limit=None)
                    for _, _, idx in near:
                        for code in codes[idx]:
                            scores[code] = max(scores.get(code, 0.0), _FUZZY[min(length, 5)])
                            start = min(start, p - k)
            if scores:
                found.append(_Hit(start, p, tuple(_Entry(c, 3, s, False) for c, s in sorted(scores.items()))))
        return found

    def _chains(self, hits: list[_Hit]) -> tuple[_Chain, list[tuple[int, _Chain]]]:
        """The best-supported chain, and its rivals with the depth where each departs from it."""
        chains: list[_Chain] = []
        for code in sorted({e.code for h in hits for e in h.entries}):
            path = self._paths[code]
            support: list[tuple[int, _Entry]] = []
            for hi, hit in enumerate(hits):
                on_path = [e for e in hit.entries if e.depth <= len(path) and path[e.depth - 1] == e.code]
                if on_path:
                    support.append((hi, max(on_path, key=lambda e: e.score)))
            chains.append(_Chain(path, sum(e.score for _, e in support), tuple(support)))
        # Stable sort over sorted codes: ties break the same way every time; deeper first.
        chains.sort(key=lambda c: (round(c.score, 6), len(c.path)), reverse=True)
        best = chains[0]
        best_support = set(best.support)
        rivals: list[tuple[int, _Chain]] = []
        for chain in chains[1:]:
            depth = next((d for d, (a, b) in enumerate(zip(chain.path, best.path, strict=False)) if a != b), None)
            if depth is None:
                continue  # an ancestor or a descendant of the best chain
            # Compare only what tells them apart: in "宾阳县X村…晚上施工" 宾阳县 supports
            # both X村 and 上施村, and the weak 上施 alone must not rival X村.
            shared = sum(e.score for s, e in chain.support if (s, e) in best_support)
            own, best_own = chain.score - shared, best.score - shared
            if own >= _RIVAL_RATIO * best_own and own >= min(_RIVAL_MIN, best_own):
                rivals.append((depth + 1, chain))
            elif chain.path[0] == _OUTSIDE and all(e.depth == 3 for _, e in best.support):
                rivals.append((1, chain))  # "柳州市…中华社区": a community name alone is not enough
        return best, rivals

    def _confidences(self, best: _Chain, hits: list[_Hit]) -> list[float]:
        starts = {hits[hi].start for hi, _ in best.support}
        conf: list[float] = []
        for depth in range(1, len(best.path) + 1):
            miss = 1.0
            for hi, entry in best.support:
                share = entry.score
                if entry.depth < depth:  # a parent vouches for its child only in part
                    adjacent = hits[hi].end in starts
                    share *= _ADJACENT_WEIGHT if adjacent else _PARENT_WEIGHT[entry.depth, depth]
                miss *= 1.0 - share
            conf.append(1.0 - miss)
        # A level no hit names (the township of "竹溪社区") is known only through the
        # level below it, so it cannot be surer than that level.
        named = {entry.depth for _, entry in best.support}
        for depth in range(len(conf) - 1, 0, -1):
            if depth not in named:
                conf[depth - 1] = min(conf[depth - 1], conf[depth])
        return conf


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _load_areas(root: Path) -> tuple[list[Area], dict[str, int]]:
    """Counties from the GeoJSON, official townships from MCA 2025, communities
    from NBS 2023. An NBS township code missing from MCA is matched by name in
    its county (五塘镇 450102102 → 450102107: the code changed, not the town);
    statistics-only units (开发区, 农场 …) have no MCA counterpart and stay as
    "township_nbs" areas, parents of their own communities."""
    features = json.loads((root / "nanning_districts.geojson").read_text(encoding="utf-8"))["features"]
    areas = [Area(f["properties"]["adcode"], f["properties"]["name"], "district", "450100") for f in features]
    mca = _read_csv(root / "nanning_townships_mca_20251231.csv")
    areas += [Area(r["code9"], r["name"], "township", r["county_adcode"]) for r in mca]
    by_name = {(r["county_adcode"], r["name"]): r["code9"] for r in mca}
    official = set(by_name.values())
    renamed: dict[str, str] = {}
    for r in _read_csv(root / "nanning_townships_nbs2023.csv"):
        same_name = by_name.get((r["county_adcode"], r["name"]))
        if r["code9"] in official:
            continue
        if same_name is not None:
            renamed[r["code9"]] = same_name
        else:
            areas.append(Area(r["code9"], r["name"], "township_nbs", r["county_adcode"]))
    villages = _read_csv(root / "nanning_villages_nbs2023.csv")
    parents = [renamed.get(r["township_code9"], r["township_code9"]) for r in villages]
    areas += [Area(r["code12"], r["name"], "community", p) for r, p in zip(villages, parents, strict=True)]
    notes = {
        "counties": len(features),
        "townships_mca": len(mca),
        "nbs_townships_renamed": len(renamed),
        "nbs_only_units": sum(a.level == "township_nbs" for a in areas),
        "communities": len(villages),
        "communities_remapped_by_name": sum(r["township_code9"] in renamed for r in villages),
        "communities_under_nbs_units": sum(p not in official for p in parents),
    }
    return areas, notes
