"""Directives (政令一键智达): issuing, answering, reminding, and the leader's timer (reminders, overdue).

Every step is an append on the directive's own stream with its expected version, carrying the folded document
for the projection (hub.store.directives) and the directive's areas as `scope` (the console feed's visibility).
The timer works like the SLA timers (hub.services.timers): the projection stores `next_due_at`; a sweep appends
what dispatch.directives.due_events says is due, with the expected version, so a step never fires twice, even
with two hubs sweeping or after a restart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dispatch import directives as rules
from dispatch.events import DomainEvent, JsonDict
from dispatch.matrix import Matrix
from geo.areas import NANNING, code_within
from hub.identity.access import Principal
from hub.infra.clock import Clock
from hub.infra.loops import every
from hub.services.actors import AreaChain, unit_ref
from hub.store.committer import GroupCommitter
from hub.store.directives import DirectiveReads, DirectiveRow, visible_to
from hub.store.events import AppendRequest, VersionConflict

log = logging.getLogger(__name__)
TIMER_ACTOR = "system:directives"
_AREA_LENGTHS = (6, 9, 12, 15)


class DirectiveError(Exception):
    """A refusal (dispatch.directives.Refusal: the status, code and reason the API answers) and the fields it
    names (several, for recipients)."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.refusal = rules.Refusal(status, code, message)
        self.fields = fields or []


def person(principal: Principal, unit: Mapping[str, str] | None = None) -> JsonDict:
    """Who did it, as the directive records it: username, role, display name, and unit when they have one."""
    out: JsonDict = {"username": principal.name, "role": principal.role,
                     "name": principal.display_name or principal.name}
    if unit is not None:
        out["unit"] = dict(unit)
    return out


def _request(doc: JsonDict, events: Sequence[DomainEvent], now: datetime, actor: str,
             extra: Mapping[str, Any] | None = None) -> tuple[AppendRequest, JsonDict]:
    new = doc
    for i, event in enumerate(events, start=1):
        new = rules.apply_directive(new, event.type, event.data, doc["version"] + i)
    return AppendRequest(uuid.UUID(doc["directive_id"]), doc["version"], list(events), now,
                         metadata={"actor": actor, "scope": rules.scope_of(new), **(extra or {})},
                         projection=DirectiveRow(new)), new


class Directives:
    def __init__(self, reads: DirectiveReads, committer: GroupCommitter, policy: rules.DirectivePolicy,
                 matrix: Matrix | None, area_chain: AreaChain, children: Callable[[str | None, str | None],
                                                                                  list[dict[str, Any]]],
                 clock: Clock) -> None:
        self.reads = reads
        self._committer = committer
        self._policy = policy
        self._matrix = matrix
        self._area_chain = area_chain
        self._children = children
        self._clock = clock

    # --- recipients ------------------------------------------------------------------------------------------

    def unit(self, code: str) -> dict[str, str] | None:
        """A unit that exists, {code, name, area}; None for a code nobody knows."""
        area = code.partition("-")[0]
        if not (area.isascii() and area.isdigit() and len(area) in _AREA_LENGTHS):
            return None
        ref = unit_ref(self._matrix, self._area_chain, code)
        if ref is None or "name" not in ref:
            return None
        return {"code": code, "name": ref["name"], "area": area}

    def resolve(self, principal: Principal, spec: Mapping[str, Any]) -> list[dict[str, str]]:
        """The units a `recipients` value names, each existing and inside the issuer's jurisdiction; 422 naming
        a unit nobody knows, 403 naming one outside the jurisdiction."""
        home = principal.area or ""
        if spec.get("units") is not None:
            found, unknown, outside = [], [], []
            for i, code in enumerate(spec["units"]):
                unit = self.unit(code)
                if unit is None:
                    unknown.append({"field": f"recipients.units[{i}]", "message": f"no such unit: {code}"})
                elif not code_within(unit["area"], home):
                    outside.append({"field": f"recipients.units[{i}]",
                                    "message": f"{code} is outside your jurisdiction ({home})"})
                else:
                    found.append(unit)
            if unknown:
                raise DirectiveError(422, "unknown_recipient", "no such unit: " + ", ".join(
                    f["message"].removeprefix("no such unit: ") for f in unknown), unknown)
            if outside:
                raise DirectiveError(403, "forbidden", "recipients outside your jurisdiction", outside)
            return found
        level, parent, kind = spec["level"], spec["parent"], spec.get("kind") or "gov"
        if not code_within(parent, home):
            raise DirectiveError(403, "forbidden", f"{parent} is outside your jurisdiction ({home})",
                                 [{"field": "recipients.parent", "message": f"outside your jurisdiction ({home})"}])
        is_city = parent == NANNING.code
        if not is_city and not self._area_chain(parent):
            raise DirectiveError(422, "unknown_recipient", f"no such area: {parent}",
                                 [{"field": "recipients.parent", "message": f"no such area: {parent}"}])
        if level == "township" and kind != "gov":
            raise DirectiveError(422, "validation_failed", "townships have only their government (kind gov)",
                                 [{"field": "recipients.kind", "message": "a township level names its governments"}])
        areas = self._children(None if is_city else parent, level)
        units = [u for a in areas if (u := self.unit(f"{a['code']}-{kind}")) is not None]
        if not units:
            raise DirectiveError(422, "unknown_recipient", f"no {kind} unit of level {level} under {parent}",
                                 [{"field": "recipients", "message": f"names no unit: no {level} under {parent}"}])
        return units

    def superiors(self, units: Sequence[str]) -> dict[str, dict[str, str] | None]:
        """Each unit's superior (上级) as {code, name}: where its missed directive is escalated."""
        city = self._policy.city_superior or (self._matrix.city.code if self._matrix else f"{NANNING.code}-gov")
        out: dict[str, dict[str, str] | None] = {}
        for code in units:
            superior = rules.superior_unit(code, city)
            ref = unit_ref(self._matrix, self._area_chain, superior) if superior else None
            out[code] = {"code": ref["code"], "name": ref.get("name", ref["code"])} if ref else None
        return out

    # --- commands --------------------------------------------------------------------------------------------

    async def issue(self, principal: Principal, event: DomainEvent, extra: Mapping[str, Any]) -> JsonDict:
        directive_id = str(uuid.uuid4())
        req, doc = _request(rules.new_directive(directive_id), [event], self._clock.now(),
                            f"{principal.role}:{principal.name}", extra)
        await self._committer.append(req)
        return doc

    async def visible(self, principal: Principal, directive_id: uuid.UUID) -> JsonDict:
        doc = await self.reads.get(directive_id)
        if doc is None or not visible_to(principal, doc):
            raise DirectiveError(404, "not_found", "no such directive")
        return doc

    async def answer(self, principal: Principal, directive_id: uuid.UUID, decide: Callable[[JsonDict, JsonDict],
                     list[DomainEvent] | rules.Refusal], extra: Mapping[str, Any]) -> JsonDict:
        """签收 or reply on behalf of the caller's unit (`decide(doc, by)`); 404 unless that unit is addressed."""
        for _ in range(3):
            doc = await self.reads.get(directive_id)
            mine = rules.recipient_of(doc, principal.unit) if doc is not None else None
            if doc is None or mine is None:
                raise DirectiveError(404, "not_found", "no such directive")
            decided = decide(doc, person(principal, mine["unit"]))
            if isinstance(decided, rules.Refusal):
                raise _refused(decided)
            if not decided:
                return doc  # answered before: idempotent
            try:
                return await self._append(doc, decided, f"{principal.role}:{principal.name}", extra)
            except VersionConflict:
                continue
        raise DirectiveError(409, "version_conflict", "the directive keeps changing; try again")

    async def remind(self, principal: Principal, directive_id: uuid.UUID, units: Sequence[str] | None,
                     extra: Mapping[str, Any]) -> JsonDict:
        """The issuer's (or their superiors') one click to remind the units still missing."""
        for _ in range(3):
            doc = await self.visible(principal, directive_id)
            if principal.role not in rules.ISSUER_ROLES or not code_within(doc["issuer_area"], principal.area or ""):
                raise DirectiveError(403, "forbidden", "only the issuer (or the level above it) reminds")
            decided = rules.remind(doc, units, person(principal), self._clock.now())
            if isinstance(decided, rules.Refusal):
                raise _refused(decided)
            try:
                return await self._append(doc, [decided], f"{principal.role}:{principal.name}", extra)
            except VersionConflict:
                continue
        raise DirectiveError(409, "version_conflict", "the directive keeps changing; try again")

    async def _append(self, doc: JsonDict, events: Sequence[DomainEvent], actor: str,
                      extra: Mapping[str, Any] | None = None) -> JsonDict:
        req, new = _request(doc, events, self._clock.now(), actor, extra)
        await self._committer.append(req)
        return new

    # --- the timer (led) -------------------------------------------------------------------------------------

    async def sweep(self, batch: int = 200) -> int:
        """Append every reminder and overdue step due now; return how many events were appended."""
        fired = 0
        while True:
            now = self._clock.now()
            progressed = 0
            for doc in await self.reads.due(now, batch):
                events = rules.due_events(doc, now, self._policy, self.superiors(rules.missing_units(doc)))
                if not events:
                    continue
                try:
                    await self._append(doc, events, TIMER_ACTOR)
                except VersionConflict:
                    continue  # answered (or swept by another hub) meanwhile: the next round reads it again
                fired += len(events)
                progressed += 1
            if not progressed:
                return fired

    async def run(self, every_s: float) -> None:
        await every(every_s, self.sweep, failure="directive sweep failed; retrying")


def _refused(refusal: rules.Refusal) -> DirectiveError:
    fields = [{"field": refusal.field, "message": refusal.reason}] if refusal.field else []
    return DirectiveError(refusal.status, refusal.code, refusal.reason, fields)
