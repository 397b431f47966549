"""Directives (政令一键智达): one instruction from the city or a county to many units, answered by each. Pure: no I/O.

A directive is a stream of its own in the event store (not a case: dispatch.events.is_case_event says no):

- `directive.issued` (title, content, attachments, recipients [{code, name, area}], recipients_spec, due, reply —
  `ack` 签收 only or `report` a reply —, issued_by, issuer_area, incident_id, at): the issuer sends it;
- `directive.acknowledged` (unit, by, at): a recipient unit's staff sign for it (签收), once per unit;
- `directive.replied` (unit, by, at, text, photos): a unit reports back, only when `reply` is `report`, once per
  unit; a reply is a receipt too;
- `directive.reminded` (units, at, by — None for the timer —, shares): 催办 at the configured shares of the time
  limit, or the issuer's one click;
- `directive.overdue` (units, escalated_to {unit: superior unit}, at): the deadline passed with these units'
  answers missing (上报上级).

Per recipient the state is `pending`, `acknowledged`, `replied` or `overdue` (the answer the directive requires —
签收 for `ack`, a reply for `report` — is missing at the deadline). A late answer is still taken (the point is
that the unit acts) and marked `late`. The whole directive is `open`, `overdue` (some required answer missing
past the deadline) or `completed` (every unit gave the answer required).

Answering twice: a second 签收 by the same unit (a double tap on a phone) changes nothing and is not an error
(the first one's who and when stand); a second reply is refused (`already_replied`): a report is made once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatch.codes import level_of
from dispatch.events import DomainEvent, JsonDict

DIRECTIVE_EVENT_PREFIX: Final = "directive."
REPLY_MODES: Final = ("ack", "report")
RECIPIENT_STATES: Final = ("pending", "acknowledged", "replied", "overdue")
DIRECTIVE_STATES: Final = ("open", "overdue", "completed")
# Who may issue a directive: the city (admin, city operator) for the whole city, a county dispatcher in its county.
ISSUER_ROLES: Final = frozenset({"admin", "city_operator", "county_dispatcher"})


class DirectivePolicy(BaseModel):
    """What the city configures for directives (the policy's `directives`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # 催办: a reminder to the units still missing at each of these shares of the time limit (issued → due).
    reminder_shares: tuple[float, ...] = Field(default=(0.5, 0.8))
    # Where a county-level unit's missed directive is escalated: the city's command centre; None: the matrix's
    # city unit. A township's (or community's) goes to its county government.
    city_superior: str | None = None
    max_recipients: int = Field(default=500, ge=1)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an answer or a reminder was not taken: the hub answers `status` with `code`."""

    status: int
    code: str
    reason: str
    field: str | None = None


def new_directive(directive_id: str) -> JsonDict:
    return {"directive_id": directive_id, "version": 0, "title": "", "content": "", "attachments": [],
            "reply": "ack", "due": None, "issued_at": None, "issued_by": None, "issuer_area": None,
            "incident_id": None, "recipients_spec": None, "recipients": [], "reminders": [], "auto_shares": [],
            "overdue_at": None, "updated_at": None, "state": "open", "total": 0, "acknowledged": 0, "replied": 0,
            "overdue": 0, "pending": 0}


def _recipient(unit: Mapping[str, Any]) -> JsonDict:
    return {"unit": {"code": unit["code"], "name": unit["name"]}, "area": unit["area"], "state": "pending",
            "at": None, "by": None, "acknowledged_at": None, "acknowledged_by": None, "reply": None,
            "late": False, "overdue": False, "escalated_to": None, "reminded": 0}


def answered(directive: Mapping[str, Any], recipient: Mapping[str, Any]) -> bool:
    """Whether this recipient gave the answer the directive requires."""
    if directive["reply"] == "report":
        return recipient["reply"] is not None
    return recipient["acknowledged_at"] is not None


def _state_of(directive: Mapping[str, Any], r: Mapping[str, Any]) -> str:
    if r["reply"] is not None:
        return "replied"
    if r["overdue"] and not answered(directive, r):
        return "overdue"
    return "acknowledged" if r["acknowledged_at"] is not None else "pending"


def _settle(doc: JsonDict) -> JsonDict:
    """The figures and states that follow from the recipients."""
    for r in doc["recipients"]:
        r["state"] = _state_of(doc, r)
    states = [r["state"] for r in doc["recipients"]]
    doc["total"] = len(states)
    doc["replied"] = states.count("replied")
    # 已签收: every unit that signed for it, those that replied included (a reply is a receipt too).
    doc["acknowledged"] = sum(1 for r in doc["recipients"] if r["acknowledged_at"] is not None)
    doc["overdue"] = states.count("overdue")
    doc["pending"] = sum(1 for r in doc["recipients"] if not answered(doc, r))
    doc["state"] = ("completed" if doc["pending"] == 0 else "overdue" if doc["overdue"] else "open")
    return doc


def apply_directive(directive: JsonDict, event_type: str, data: JsonDict, version: int) -> JsonDict:
    """Fold one directive event into the document (a copy)."""
    doc = {**directive, "recipients": [dict(r) for r in directive["recipients"]], "version": version}
    by_unit = {r["unit"]["code"]: r for r in doc["recipients"]}
    at = data.get("at")
    if event_type == "directive.issued":
        for key in ("title", "content", "attachments", "reply", "due", "issued_by", "issuer_area", "incident_id",
                    "recipients_spec"):
            doc[key] = data.get(key)
        doc["issued_at"] = at
        doc["recipients"] = [_recipient(u) for u in data["recipients"]]
    elif event_type in ("directive.acknowledged", "directive.replied"):
        r = by_unit[data["unit"]]
        late = doc["overdue_at"] is not None
        if r["acknowledged_at"] is None:
            r["acknowledged_at"], r["acknowledged_by"] = at, data["by"]
        if event_type == "directive.replied":
            r["reply"] = {"text": data["text"], "photos": list(data.get("photos") or []), "at": at, "by": data["by"]}
        r["at"], r["by"] = at, data["by"]
        r["late"] = r["late"] or (late and r["overdue"])
    elif event_type == "directive.reminded":
        doc["reminders"] = [*doc["reminders"], {"at": at, "by": data.get("by"), "units": list(data["units"]),
                                                "shares": list(data.get("shares") or [])}]
        doc["auto_shares"] = sorted({*doc["auto_shares"], *(data.get("shares") or [])})
        for code in data["units"]:
            if code in by_unit:
                by_unit[code]["reminded"] += 1
    elif event_type == "directive.overdue":
        doc["overdue_at"] = at
        escalated = data.get("escalated_to") or {}
        for code in data["units"]:
            r = by_unit[code]
            r["overdue"] = True
            r["escalated_to"] = escalated.get(code)
            if r["acknowledged_at"] is None and r["reply"] is None:
                r["at"], r["by"] = at, None
    doc["updated_at"] = at
    return _settle(doc)


def fold_directive(directive_id: str, events: Iterable[tuple[str, JsonDict]]) -> JsonDict:
    doc = new_directive(directive_id)
    for version, (event_type, data) in enumerate(events, start=1):
        doc = apply_directive(doc, event_type, data, version)
    return doc


def issued(*, title: str, content: str, attachments: Sequence[str], recipients: Sequence[Mapping[str, str]],
           recipients_spec: Mapping[str, Any], due: datetime, reply: Literal["ack", "report"],
           issued_by: Mapping[str, Any], issuer_area: str, incident_id: str | None, now: datetime) -> DomainEvent:
    """The `directive.issued` event; the hub has resolved and checked the recipients (who exist, and lie in the
    issuer's jurisdiction) and `due` (after `now`). Each unit is named once, in the order given."""
    seen: dict[str, Mapping[str, str]] = {}
    for unit in recipients:
        seen.setdefault(unit["code"], unit)
    return DomainEvent("directive.issued", {
        "title": title, "content": content, "attachments": list(attachments),
        "recipients": [{"code": u["code"], "name": u["name"], "area": u["area"]} for u in seen.values()],
        "recipients_spec": dict(recipients_spec), "due": due.isoformat(), "reply": reply,
        "issued_by": dict(issued_by), "issuer_area": issuer_area, "incident_id": incident_id, "at": now.isoformat()})


def recipient_of(directive: Mapping[str, Any], unit: str | None) -> JsonDict | None:
    """The recipient entry of `unit`, or None (the caller's unit is not addressed)."""
    return next((r for r in directive["recipients"] if r["unit"]["code"] == unit), None) if unit else None


def acknowledge(directive: Mapping[str, Any], unit: str, by: Mapping[str, Any], now: datetime
                ) -> list[DomainEvent] | Refusal:
    """签收 by `unit`'s staff: one event the first time, nothing after (idempotent)."""
    r = recipient_of(directive, unit)
    if r is None:
        return Refusal(404, "not_found", "no such directive")
    if r["acknowledged_at"] is not None:
        return []
    return [DomainEvent("directive.acknowledged", {"unit": unit, "by": dict(by), "at": now.isoformat()})]


def reply(directive: Mapping[str, Any], unit: str, by: Mapping[str, Any], now: datetime, text: str,
          photos: Sequence[str]) -> list[DomainEvent] | Refusal:
    """A recipient's report (回复): only where the directive asks for one, once per unit."""
    r = recipient_of(directive, unit)
    if r is None:
        return Refusal(404, "not_found", "no such directive")
    if directive["reply"] != "report":
        return Refusal(422, "reply_not_required", "this directive asks for 签收 only: acknowledge it", "text")
    if r["reply"] is not None:
        return Refusal(409, "already_replied", f"{r['unit']['name']} replied at {r['reply']['at']}")
    return [DomainEvent("directive.replied", {"unit": unit, "by": dict(by), "at": now.isoformat(), "text": text,
                                              "photos": list(photos)})]


def missing_units(directive: Mapping[str, Any]) -> list[str]:
    """The units whose required answer is still missing, in the directive's order."""
    return [r["unit"]["code"] for r in directive["recipients"] if not answered(directive, r)]


def remind(directive: Mapping[str, Any], units: Sequence[str] | None, by: Mapping[str, Any], now: datetime
           ) -> DomainEvent | Refusal:
    """The issuer's one click: remind `units` (default: every unit still missing)."""
    missing = missing_units(directive)
    if units is None:
        if not missing:
            return Refusal(422, "nothing_to_remind", "every unit has answered", "units")
        chosen = missing
    else:
        stray = [u for u in units if u not in missing]
        if stray:
            return Refusal(422, "validation_failed", f"not a unit still to answer: {', '.join(stray)}", "units")
        chosen = list(dict.fromkeys(units))
    return DomainEvent("directive.reminded", {"units": chosen, "at": now.isoformat(), "by": dict(by), "shares": []})


def superior_unit(unit_code: str, city_superior: str) -> str | None:
    """Whom a unit's missed directive is escalated to (上报上级): a township's (or community's, grid's) county
    government; a county-level unit's city superior; nobody above the city."""
    area = unit_code.partition("-")[0]
    level = level_of(area)
    if level in ("township", "community", "grid"):
        return f"{area[:6]}-gov"
    if level == "county":
        return city_superior
    return None


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def share_times(directive: Mapping[str, Any], policy: DirectivePolicy) -> list[tuple[float, datetime]]:
    """When each automatic reminder falls: issued + share × (due − issued)."""
    start, due = _at(directive["issued_at"]), _at(directive["due"])
    return [(share, start + (due - start) * share) for share in sorted(policy.reminder_shares)]


def due_events(directive: Mapping[str, Any], now: datetime, policy: DirectivePolicy,
               superior: Mapping[str, Mapping[str, str] | None]) -> list[DomainEvent]:
    """What the timer appends now (idempotent: nothing once it is done): at the deadline, `directive.overdue`
    for the units still missing, escalated to their superiors (`superior`: unit code → {code, name} or None);
    before it, one reminder for every share of the time limit passed and not yet reminded."""
    if directive["issued_at"] is None or directive["overdue_at"] is not None:
        return []
    missing = missing_units(directive)
    if not missing:
        return []
    if now >= _at(directive["due"]):
        return [DomainEvent("directive.overdue", {
            "units": missing, "escalated_to": {u: superior.get(u) for u in missing}, "at": now.isoformat()})]
    passed = [share for share, at in share_times(directive, policy)
              if at <= now and share not in directive["auto_shares"]]
    if not passed:
        return []
    return [DomainEvent("directive.reminded", {"units": missing, "at": now.isoformat(), "by": None,
                                               "shares": passed})]


def next_due_at(directive: Mapping[str, Any], policy: DirectivePolicy) -> datetime | None:
    """When the timer must look at this directive next; None when nothing more will fire."""
    if directive["issued_at"] is None or directive["overdue_at"] is not None or not missing_units(directive):
        return None
    times = [at for share, at in share_times(directive, policy) if share not in directive["auto_shares"]]
    return min([*times, _at(directive["due"])])


def scope_of(directive: Mapping[str, Any]) -> list[str]:
    """The area codes a directive concerns: the issuer's and every recipient's (the console feed's `scope`)."""
    codes = [directive["issuer_area"], *(r["area"] for r in directive["recipients"])]
    return list(dict.fromkeys(c for c in codes if c))


def recipient_units(directive: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(r["unit"]["code"] for r in directive["recipients"])


__all__ = ["DIRECTIVE_STATES", "ISSUER_ROLES", "RECIPIENT_STATES", "REPLY_MODES", "DirectivePolicy", "Refusal",
           "acknowledge", "answered", "apply_directive", "due_events", "fold_directive", "issued", "missing_units",
           "new_directive", "next_due_at", "recipient_of", "recipient_units", "remind", "reply", "scope_of",
           "share_times", "superior_unit"]
