"""Who may see what: jurisdiction clipping and privacy views (PRODUCT.md section 8).

Area codes are the national administrative codes, which nest by prefix (450103 青秀区 contains
450103001), so "inside my jurisdiction" is a code test and needs no geometry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from dispatch.case import Case, area_codes
from geo.areas import NANNING, code_within

CITY_CODE = NANNING.code
ROLES = frozenset({
    "admin", "city_operator", "county_dispatcher", "township_handler", "grid_worker", "auditor",
    "hotline", "iot", "open311",
})
MACHINE_ROLES = frozenset({"hotline", "iot", "open311"})
USER_ROLES = ROLES - MACHINE_ROLES
# Roles whose area is the whole city when none is given.
CITY_WIDE_ROLES = frozenset({"admin", "city_operator", "auditor"})
# Roles that need the caller's name and number (they phone citizens back); others see them masked.
SEES_REPORTER = frozenset({"admin", "city_operator"})
# Who reads a confidential (保密) ticket's content, title, place and attachments: `sees_confidential_content`.
# 保密 protects the caller, not the problem, so the unit that must solve it reads what it must solve (the caller's
# name and number stay under SEES_REPORTER like on any case). Always within `may_see`:
#   admin, city_operator    every case: they triage and dispatch city-wide
#   county_dispatcher       every case of their county: they dispatch, push down and review returns there
#   township_handler        cases their unit (Principal.unit) leads or assists (units.lead / units.assist)
#   grid_worker, auditor    never: the grid reports and patrols, the auditor checks the process, not the content
#   hotline, iot, open311   never (Open311 is public and publishes no confidential content)
SEES_CONFIDENTIAL = frozenset({"admin", "city_operator", "county_dispatcher"})
HANDLES_CONFIDENTIAL = frozenset({"township_handler"})
# Lists, queues and the live console feed carry the masked view (data minimisation, 最小必要): an operator who
# must phone a caller, or a dispatcher who must read a confidential ticket, opens the case, and that single read
# is recorded in the access audit. One exception, `list_view`: the staff of a handling unit see the content of
# the confidential cases their unit leads or assists in their own queue and feed — it is their work.
LIST_VIEW = "masked"
# A list or feed view naming a unit ("unit:450103001-gov"): LIST_VIEW, except that the confidential cases this
# unit handles show their content ("content").
UNIT_VIEW_PREFIX = "unit:"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    area: str | None  # jurisdiction code; None for machines
    # A hotline key's registered callback origins (connectors.callback_origins); empty for everyone else.
    callback_origins: frozenset[str] = frozenset()
    # The name consoles show for this user's actions, and the matrix unit whose cases they handle (users table).
    display_name: str | None = None
    unit: str | None = None

    @property
    def view(self) -> str:
        """Whether this caller is shown callers ("full") or not ("masked"): the console config's `user.view`.
        One case's view also depends on the case (a confidential ticket's handling unit): `view_of`."""
        return "full" if self.role in SEES_REPORTER else "masked"


def sees_duty_phone(principal: Principal, unit: str) -> bool:
    """Whether `principal` is shown the phone number of `unit`'s duty officer (值班) rather than 138****1234: the
    staff who must call them — the command centre (SEES_REPORTER) for every unit, a county dispatcher for the
    units of its county —, and the unit's own staff (their colleague, to hand over to). The number is personal
    data like a caller's: every unmasked read is recorded in the access audit (hub.api.audit)."""
    if principal.role in SEES_REPORTER or (principal.unit is not None and principal.unit == unit):
        return True
    area = unit.partition("-")[0]
    return (principal.role == "county_dispatcher" and principal.area is not None and area.isascii()
            and area.isdigit() and len(area) in (6, 9, 12, 15) and code_within(area, principal.area))


def default_area(role: str, area: str | None) -> str | None:
    if area is None and role in CITY_WIDE_ROLES:
        return CITY_CODE
    return area


def clip_scopes(principal: Principal, requested: Iterable[str]) -> frozenset[str]:
    """The requested areas, clipped to the caller's jurisdiction. Nothing requested = all of it."""
    home = principal.area
    if home is None:
        return frozenset()
    wanted = [code for code in requested if code]
    if not wanted:
        return frozenset({home})
    clipped: set[str] = set()
    for code in wanted:
        if code_within(code, home):
            clipped.add(code)
        elif code_within(home, code):
            clipped.add(home)  # asked for more than they may see: they get their own area
    return frozenset(clipped)


def case_in_scopes(area_codes: list[str], scopes: frozenset[str]) -> bool:
    """A case is visible inside any scope that contains one of its areas (city, county, township,
    community, grid). Every level is checked, not only the deepest: statistical community codes do not
    always nest under their current township's code (renamed and merged townships keep old prefixes).
    An unplaced case (triage without a location) belongs to whoever watches the whole city."""
    codes = area_codes or [CITY_CODE]
    return any(code_within(code, scope) for code in codes for scope in scopes)


def handling_units(case: Mapping[str, Any]) -> frozenset[str]:
    """The codes of the units that must act on a case: its lead unit and its assisting (协办) units."""
    units = case.get("units") or {}
    found = [units.get("lead"), *(units.get("assist") or [])]
    return frozenset(u["code"] for u in found if isinstance(u, dict) and isinstance(u.get("code"), str))


def sees_confidential_content(principal: Principal, case: Case) -> bool:
    """The one rule for a confidential ticket's content (see SEES_CONFIDENTIAL): every path that shows a case
    to one caller — a case read, an action's answer, a photo — asks it."""
    if not may_see(principal, case):
        return False
    if principal.role in SEES_CONFIDENTIAL:
        return True
    return principal.role in HANDLES_CONFIDENTIAL and principal.unit in handling_units(case)


def list_view(principal: Principal) -> str:
    """The view of lists, queues and the live feed for this caller: LIST_VIEW, or for the staff of a unit
    (HANDLES_CONFIDENTIAL with a `unit`) the view naming that unit, resolved per case by `listed_view`."""
    if principal.role in HANDLES_CONFIDENTIAL and principal.unit:
        return UNIT_VIEW_PREFIX + principal.unit
    return LIST_VIEW


def listed_view(view: str, case: Case) -> str:
    """The view one case of a list or feed is shown in, for a subscription's `list_view` (lists are already
    clipped to the caller's jurisdiction)."""
    return listed_view_of(view, bool((case.get("report") or {}).get("confidential")), handling_units(case))


def listed_view_of(view: str, confidential: bool, units: frozenset[str]) -> str:
    """`listed_view` from the case's flag and `handling_units`, for a feed that reads only those: the same rule
    as `sees_confidential_content` for HANDLES_CONFIDENTIAL (the unit leads or assists the case)."""
    if not view.startswith(UNIT_VIEW_PREFIX):
        return view
    return "content" if confidential and view[len(UNIT_VIEW_PREFIX):] in units else LIST_VIEW


def view_of(principal: Principal, case: Case) -> str:
    """The privacy view `principal` gets of this one case: "full" (caller and content), "content" (a
    confidential ticket's content, the caller masked) or "masked". Lists and feeds: LIST_VIEW."""
    if principal.role in SEES_REPORTER and sees_confidential_content(principal, case):
        return "full"
    if (case.get("report") or {}).get("confidential") and sees_confidential_content(principal, case):
        return "content"
    return "masked"


def may_see(principal: Principal, case: Case) -> bool:
    """The one access rule for a case, whichever way a request names it: the case acted on or read, and
    every other case an action names (a merge's `into`, a split's parent), a photo's case. A caller who
    may not see a case is answered exactly as if it did not exist, so ids cannot be probed."""
    return case_in_scopes(area_codes(case), clip_scopes(principal, []))


_PHONE = re.compile(r"^(\+?\d{3})\d*(\d{4})$")


def mask_phone(phone: str) -> str:
    digits = phone.replace(" ", "").replace("-", "")
    m = _PHONE.match(digits)
    return f"{m.group(1)}****{m.group(2)}" if m else "****"


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1) if name else name


# What a confidential ticket's masked report drops besides its content and title (they show the problem too).
_CONFIDENTIAL_EXTRAS = ("address", "photos", "attachments")


def redact_report(report: dict[str, Any], view: str) -> dict[str, Any]:
    """`view`: "full", "content" (caller masked, a confidential ticket's content shown) or "masked". A hidden
    content is marked `content_hidden: true`, so a console says so instead of guessing from the role."""
    if view == "full":
        return report
    out = dict(report)
    reporter = out.get("reporter")
    if isinstance(reporter, dict):
        out["reporter"] = {
            "name": mask_name(reporter["name"]) if reporter.get("name") else reporter.get("name"),
            "phone": mask_phone(reporter["phone"]) if reporter.get("phone") else reporter.get("phone"),
        }
    if out.get("confidential") and view != "content":
        out["content"] = "【保密】"
        out["title"] = "【保密】" if out.get("title") else out.get("title")
        for extra in _CONFIDENTIAL_EXTRAS:
            out.pop(extra, None)
        out["content_hidden"] = True
    return out


def revealed(case: Case, view: str) -> list[str]:
    """What `view` of `case` shows that the masked view hides (the access audit records it): the part of
    `personal_data` the view unmasks."""
    shown = {"full": {"reporter", "confidential_content"}, "content": {"confidential_content"}}.get(view, set())
    return [kind for kind in personal_data(case) if kind in shown]


def personal_data(case: Case) -> list[str]:
    """What the full view of `case` reveals that the masked view hides: "reporter" (name, phone, e-mail)
    and "confidential_content". Empty: reading it unmasked needs no audit entry."""
    report = case.get("report") or {}
    reporter = report.get("reporter")
    found = []
    if isinstance(reporter, dict) and any(reporter.get(k) for k in ("name", "phone", "email")):
        found.append("reporter")
    if report.get("confidential"):
        found.append("confidential_content")
    return found


def _masked_fields(fields: Mapping[str, Any], confidential: bool, view: str = "masked") -> dict[str, Any]:
    """Fields of a case (all of them, or a patch's) as a view other than "full" shows them: the reporter masked,
    and — unless the view is "content" — a confidential ticket's content and place hidden. The one rule for
    whole cases and patches alike."""
    out = dict(fields)
    if "report" in out:
        out["report"] = redact_report(out["report"] or {}, view)
    if confidential and view != "content" and "location" in out:
        out["location"] = None
    if confidential and view != "content" and out.get("suggestions"):  # evidence words quote the content
        out["suggestions"] = [{**s, "evidence": []} for s in out["suggestions"]]
    if confidential and view != "content" and out.get("understanding"):  # so do the understanding's
        out["understanding"] = {**out["understanding"], "evidence": [], "danger": []}
    return out


def _masked_document(doc: Mapping[str, Any], view: str = "masked") -> dict[str, Any]:
    """A document that carries a report and a location — a case, or the data of its `case.received`
    event — as a view other than "full" shows it."""
    report = doc.get("report") or {}
    confidential = bool(report.get("confidential"))
    out = _masked_fields({**doc, "report": report}, confidential, view)
    if confidential and view != "content":
        out["location"] = None
    return out


def redact_case(case: Case, view: str) -> Case:
    return case if view == "full" else cast(Case, _masked_document(case, view))


def redact_case_fields(fields: Mapping[str, Any], view: str, *, confidential: bool) -> dict[str, Any]:
    """Some top-level fields of a case (a console patch), shown exactly as `redact_case` shows them in the
    whole case. `confidential` is the case's own flag (report.confidential), which the fields may not carry."""
    return dict(fields) if view == "full" else _masked_fields(fields, confidential, view)


def redact_event_data(event_type: str, data: dict[str, Any], view: str, *, confidential: bool = False
                      ) -> dict[str, Any]:
    """`case.received` carries the report; a later event of a confidential case may quote its content (the
    understanding's evidence, triage suggestions) and is masked by the same rule; the rest is shown as it is.
    `confidential` is the case's own flag, which a later event does not carry."""
    if view == "full":
        return data
    if event_type == "case.received":
        return _masked_document(data, view)
    return _masked_fields(data, True, view) if confidential else data
