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
# Roles that may read the content of confidential (保密) tickets.
SEES_CONFIDENTIAL = frozenset({"admin", "city_operator"})
# Lists, queues and the live console feed carry the masked view for every role (data minimisation, 最小必要):
# an operator who must phone a caller opens the case, and that single read is recorded in the access audit.
LIST_VIEW = "masked"


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
        """The privacy view this caller gets when reading one case (lists and feeds: LIST_VIEW)."""
        return "full" if self.role in SEES_REPORTER else "masked"


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


def redact_report(report: dict[str, Any], view: str) -> dict[str, Any]:
    if view == "full":
        return report
    out = dict(report)
    reporter = out.get("reporter")
    if isinstance(reporter, dict):
        out["reporter"] = {
            "name": mask_name(reporter["name"]) if reporter.get("name") else reporter.get("name"),
            "phone": mask_phone(reporter["phone"]) if reporter.get("phone") else reporter.get("phone"),
        }
    if out.get("confidential"):
        out["content"] = "【保密】"
        out["title"] = "【保密】" if out.get("title") else out.get("title")
        out.pop("address", None)
    return out


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


def _masked_fields(fields: Mapping[str, Any], confidential: bool) -> dict[str, Any]:
    """Fields of a case (all of them, or a patch's) as the masked view shows them: the reporter masked, and a
    confidential ticket's content and place hidden. The one rule for whole cases and patches alike."""
    out = dict(fields)
    if "report" in out:
        out["report"] = redact_report(out["report"] or {}, "masked")
    if confidential and "location" in out:
        out["location"] = None
    return out


def _masked_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A document that carries a report and a location — a case, or the data of its `case.received`
    event — as the masked view shows it."""
    report = doc.get("report") or {}
    confidential = bool(report.get("confidential"))
    out = _masked_fields({**doc, "report": report}, confidential)
    if confidential:
        out["location"] = None
    return out


def redact_case(case: Case, view: str) -> Case:
    return case if view == "full" else cast(Case, _masked_document(case))


def redact_case_fields(fields: Mapping[str, Any], view: str, *, confidential: bool) -> dict[str, Any]:
    """Some top-level fields of a case (a console patch), shown exactly as `redact_case` shows them in the
    whole case. `confidential` is the case's own flag (report.confidential), which the fields may not carry."""
    return dict(fields) if view == "full" else _masked_fields(fields, confidential)


def redact_event_data(event_type: str, data: dict[str, Any], view: str) -> dict[str, Any]:
    """Only `case.received` carries the report; every later event is shown as it is."""
    return data if view == "full" or event_type != "case.received" else _masked_document(data)
