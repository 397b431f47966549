"""The responsibility matrix (派单目录 / 权责清单): who leads and who assists, as configuration.

Rules name units by template, e.g. "{county}-cgj" is the 城市管理局 of whichever county the case is in,
so one rule covers every county; "{township}-gov" is the township government derived from the area code
(townships are too many to list). Precedence, most specific first: a special owner matching the case's
hints (a national highway belongs to the county transport bureau, not the township); a rule for the
specific area; a rule for the level; a deeper category before a broader one. When nothing applies, the
属地兜底 fallback of `dispatch.responsibility` decides. Every answer says which rule chose it and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from dispatch.codes import LEVELS, level_of, within
from dispatch.events import Case
from dispatch.responsibility import Unit, responsible_unit

Level = Literal["city", "county", "township", "community", "grid"]
Areas = Mapping[str, Mapping[str, str]]
_TEMPLATE = re.compile(r"^(?:\{(city|county|township|community|grid)\}|\d+)-[a-z0-9_]+$")
_DERIVED_SUFFIX = {"township": "人民政府", "grid": "网格"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CategoryNode(_Frozen):
    code: str
    name: str
    name_en: str | None = None  # the English consoles' name; they show `name` when it is missing
    aliases: tuple[str, ...] = ()  # channel names for this class, e.g. the simulator's "exposed_rubbish"
    # Words and phrases of a complaint about this class (leaves), read by intake when the channel's category
    # says nothing (dispatch.understanding): a city edits them here, without code.
    keywords: tuple[str, ...] = ()
    children: tuple[CategoryNode, ...] = ()

    @property
    def channel_category(self) -> str:
        """The category a new case from a form (Open311, a console) should carry: the channel name when
        there is one, since per-category SLA limits and the duplicate check key on the names the hotline
        and IoT channels send; else the code."""
        return self.aliases[0] if self.aliases else self.code


class Bureau(_Frozen):
    kind: str  # the code suffix, e.g. "cgj" → "450103-cgj"
    name: str  # e.g. "城市管理局" → "青秀区城市管理局"


class UnitDef(_Frozen):
    code: str
    name: str
    level: Level


class Rule(_Frozen):
    id: str
    category: str  # a category code; covers its descendants
    level: Level  # the area level the rule is keyed on
    area: str | None = None  # one area (and what lies inside it), or None for every area of the level
    lead: str
    assist: tuple[str, ...] = ()


class SpecialOwner(_Frozen):
    id: str
    hints: dict[str, str]  # all must match the case's hints, e.g. {"road": "national_highway"}
    categories: tuple[str, ...] = ()  # empty: any category
    lead: str
    assist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assignment:
    lead: Unit
    assist: tuple[Unit, ...]
    rule_id: str
    explanation: str  # one English sentence, for logs and API clients that read it
    # The same explanation as facts (`explanation_facts` of a case), which the consoles put into words in
    # each language: kind (rule | special_owner | fallback | manual), category, place, rule, scope, lead ...
    facts: dict[str, Any] = field(default_factory=dict)


class Matrix(_Frozen):
    city: UnitDef
    counties: dict[str, str]  # code → name; each gets a government ("-gov") and one unit per bureau
    bureaus: tuple[Bureau, ...]
    units: tuple[UnitDef, ...] = ()  # anything else, e.g. city-wide utilities
    categories: tuple[CategoryNode, ...]
    rules: tuple[Rule, ...]
    special_owners: tuple[SpecialOwner, ...] = ()

    # The indexes built from the fields, as plain attributes in the instance's __dict__ rather than pydantic
    # private attributes: every dispatch reads them several times, and a private attribute is looked up through
    # BaseModel.__getattr__ (~2 µs a read against ~0.03 µs). Declared for mypy only, so that pydantic does not
    # make them private attributes; pydantic ignores __dict__ entries that are not fields (dump, ==, repr).
    # They are built by validation: a Matrix changes only by validating a new one (model_copy(update=...)
    # would keep the old indexes).
    if TYPE_CHECKING:
        _nodes: dict[str, tuple[CategoryNode, ...]]  # code/alias → path
        _units: dict[str, Unit]

    @model_validator(mode="after")
    def _index(self) -> Self:
        # Built afresh on every validation: a Matrix given to a Policy is validated again.
        nodes: dict[str, tuple[CategoryNode, ...]] = {}

        def walk(node: CategoryNode, path: tuple[CategoryNode, ...]) -> None:
            here = (*path, node)
            if len(here) > 3:
                raise ValueError(f"categories: {node.code} is deeper than three levels")
            for key in (node.code, *node.aliases):
                if key in nodes:
                    raise ValueError(f"categories: {key!r} names two categories")
                nodes[key] = here
            for child in node.children:
                walk(child, here)
        for root in self.categories:
            walk(root, ())
        self.__dict__["_nodes"] = nodes  # the model is frozen: its __setattr__ refuses
        units = [self.city, *self.units]
        for code, name in self.counties.items():
            units.append(UnitDef(code=f"{code}-gov", name=f"{name}人民政府", level="county"))
            units += [UnitDef(code=f"{code}-{b.kind}", name=f"{name}{b.name}", level="county") for b in self.bureaus]
        self.__dict__["_units"] = {u.code: Unit(u.code, u.name, u.level) for u in units}
        checks: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
            (r.id, (r.category,), (r.lead, *r.assist)) for r in self.rules]
        checks += [(o.id, o.categories, (o.lead, *o.assist)) for o in self.special_owners]
        for rule_id, categories, templates in checks:
            for cat in categories:
                if cat not in self._nodes:
                    raise ValueError(f"{rule_id}: unknown category {cat!r}")
            for template in templates:
                if not _TEMPLATE.match(template):
                    raise ValueError(f"{rule_id}: {template!r} is neither a unit code nor '{{level}}-kind'")
                if "{" not in template and template not in self._units:
                    raise ValueError(f"{rule_id}: unknown unit {template!r}")
        return self

    def knows(self, category: str | None) -> bool:
        return category is not None and category in self._nodes

    def category_keys(self) -> list[str]:
        """Every code and channel name (alias) the tree knows."""
        return list(self._nodes)

    def leaves(self) -> list[tuple[CategoryNode, ...]]:
        """Every leaf category with its path from the root, in the tree's order (the services a citizen
        or a grid worker picks from)."""
        seen: set[str] = set()
        out = []
        for path in self._nodes.values():
            if not path[-1].children and path[-1].code not in seen:
                seen.add(path[-1].code)
                out.append(path)
        return out

    def path(self, category: str) -> tuple[CategoryNode, ...]:
        """Root to leaf, e.g. 市容环境 → 环卫设施 → 暴露垃圾. Raises KeyError for an unknown category."""
        return self._nodes[category]

    def unit(self, code: str, areas: Areas | None = None) -> Unit | None:
        """A unit by code: a configured one, or an area's own body derived from the area code."""
        if code in self._units:
            return self._units[code]
        area_code, _, suffix = code.partition("-")
        level = level_of(area_code)
        area = (areas or {}).get(level)
        if suffix != "gov" or area is None or area["code"] != area_code:
            return None
        return Unit(code, area["name"] + _DERIVED_SUFFIX.get(level, "委员会"), level)

    def _resolve(self, template: str, areas: Areas) -> Unit | None:
        if template.startswith("{"):
            level, _, kind = template[1:].partition("}-")
            area = areas.get(level)
            return self.unit(f"{area['code']}-{kind}", areas) if area else None
        return self.unit(template, areas)

    def _ranked(self, category: str, areas: Areas, hints: Mapping[str, str]) -> Iterator[Assignment]:
        """Every assignment the matrix would consider, best first (for assign and for re-dispatch)."""
        path = self.path(category)
        codes = [n.code for n in path]
        label = "/".join(n.name for n in path)
        place = next((areas[lv]["name"] for lv in reversed(LEVELS) if lv in areas), "?")
        about = {"category": _node_ref(path[-1]), "place": place_of(areas)}
        for owner in self.special_owners:
            if all(hints.get(k) == v for k, v in owner.hints.items()) and (
                    not owner.categories or any(c in codes for c in owner.categories)):
                yield from self._offer(owner.lead, owner.assist, areas, owner.id,
                                       f"{label} in {place}: special owner {owner.hints} overrides the area rule",
                                       {"kind": "special_owner", **about, "hints": dict(owner.hints)})
        matching = [r for r in self.rules if r.category in codes and r.level in areas
                    and (r.area is None or within(areas[r.level]["code"], r.area))]
        matching.sort(key=lambda r: (r.area is not None, codes.index(r.category), LEVELS.index(r.level)),
                      reverse=True)
        for rule in matching:
            scope = f"area {rule.area}" if rule.area else f"every {rule.level}"
            yield from self._offer(rule.lead, rule.assist, areas, rule.id,
                                   f"{label} in {place}: rule for {self.path(rule.category)[-1].name} in {scope}",
                                   {"kind": "rule", **about, "rule_category": _node_ref(self.path(rule.category)[-1]),
                                    "scope": {"level": rule.level, "area": self._area_ref(rule.area, areas)}})
        why = "other candidates exhausted" if matching else "no rule applies"
        for level in ("township", "county"):  # 属地兜底
            if level in areas:
                unit, rule_id = responsible_unit({level: dict(areas[level])})
                lead = Unit(unit.code, unit.name, level)
                yield Assignment(lead, (), rule_id,
                                 f"{rule_id}: {label} in {place}: {why}, 属地兜底 → lead {unit.name}",
                                 {"kind": "fallback", **about, "rule": rule_id, "level": level,
                                  "why": "exhausted" if matching else "no_rule", "lead": _unit_ref(lead),
                                  "assist": [], "alternative": False})

    def _area_ref(self, code: str | None, areas: Areas) -> dict[str, str] | None:
        """An area a rule names, with its name when the case's own areas or the county list know it."""
        if code is None:
            return None
        name = next((a["name"] for a in areas.values() if a.get("code") == code), self.counties.get(code))
        return {"code": code, "name": name} if name else {"code": code}

    def _offer(self, lead: str, assist: tuple[str, ...], areas: Areas, rule_id: str,
               why: str, facts: dict[str, Any]) -> Iterator[Assignment]:
        units = [self._resolve(t, areas) for t in (lead, *assist)]
        found = [u for u in units if u is not None]
        if units[0] is None:
            return  # the rule's lead needs an area level this case lacks
        for i, unit in enumerate(found):  # the assisting units are the rule's own alternatives
            others = tuple(u for u in found if u.code != unit.code)
            role = "lead" if i == 0 else "alternative lead"
            names = "、".join(u.name for u in others) or "none"
            yield Assignment(unit, others, rule_id, f"{rule_id}: {why} → {role} {unit.name}, assist {names}",
                             {**facts, "rule": rule_id, "lead": _unit_ref(unit),
                              "assist": [_unit_ref(u) for u in others], "alternative": i > 0})

    def assign(self, category: str, areas: Areas, hints: Mapping[str, str] | None = None) -> Assignment:
        """The lead and assisting units for a category in a place. Raises KeyError for an unknown category
        and ValueError when the case has neither township nor county."""
        for assignment in self._ranked(category, areas, hints or {}):
            return assignment
        raise ValueError("no township or county to fall back to")

    def propose_alternative(self, case: Case, exclude: set[str] | frozenset[str] = frozenset()) -> Assignment | None:
        """改派: the best assignment whose lead is none of `exclude` (the units that returned the case)."""
        category = category_key(case)
        areas = case.get("areas") or {}
        if category is None or not self.knows(category) or not areas:
            return None
        seen: set[str] = set()
        for assignment in self._ranked(category, areas, hints_of(case.get("report") or {})):
            if assignment.lead.code not in exclude and assignment.lead.code not in seen:
                return assignment
            seen.add(assignment.lead.code)
        return None


def _node_ref(node: CategoryNode) -> dict[str, str]:
    return {"code": node.code, "name": node.name} | ({"name_en": node.name_en} if node.name_en else {})


def _unit_ref(unit: Unit) -> dict[str, str]:
    return {"code": unit.code, "name": unit.name}


def category_of(path: tuple[CategoryNode, ...]) -> dict[str, Any]:
    """A case's `category`: the node's code and the names from the root, and the English names when the tree
    has every one (a console in English shows those)."""
    out: dict[str, Any] = {"code": path[-1].code, "path": [n.name for n in path]}
    if all(n.name_en for n in path):
        out["path_en"] = [n.name_en for n in path]
    return out


def place_of(areas: Areas) -> list[dict[str, str]]:
    """Where a case is, for an explanation: its areas from the county down to the community (the city is
    implied; a grid is too fine to name a unit by)."""
    return [{"level": lv, "code": areas[lv]["code"], "name": areas[lv]["name"]}
            for lv in ("county", "township", "community") if lv in areas]


def category_key(case: Mapping[str, Any]) -> str | None:
    """The category code the matrix placed the case in, else the channel's category name."""
    category = case.get("category")
    if isinstance(category, dict) and category.get("code"):
        return str(category["code"])
    raw = (case.get("report") or {}).get("category")
    return raw if isinstance(raw, str) else None


_NATIONAL_ROAD = re.compile(r"国道|\bG\d{2,4}\b")


def hints_of(report: Mapping[str, Any]) -> dict[str, str]:
    """Facts that select a special owner: given explicitly by the channel (`hints`), or read from the text
    (a ticket about 国道 / G-numbered road is on a national highway)."""
    hints = {str(k): str(v) for k, v in (report.get("hints") or {}).items()}
    text = " ".join(str(report.get(k) or "") for k in ("title", "content", "address"))
    if "road" not in hints and _NATIONAL_ROAD.search(text):
        hints["road"] = "national_highway"
    return hints

