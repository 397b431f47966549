"""Emergency incidents (平急转换): declaring, changing the level, linking cases, closing with a review report;
and the active incidents every intake stage links new cases to.

Every change is an append on the incident's own stream, carrying the folded document for the `incidents`
projection (hub.store.incidents) and the incident's areas as `scope` (the console feed's visibility). Links
from intake are appended at the stream's end (they never conflict) with an idempotency key derived from the
report's own, so a retried ticket links once.

Each process keeps the active incidents in memory for its intake stage: refreshed at once after its own
changes and every `poll_s` for those of other processes (a declaration reaches another process's intake within
that time).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.events import Case, DomainEvent, JsonDict
from dispatch.incidents import (
    Incident,
    apply_incident,
    area_scope,
    change_level,
    close,
    declared,
    incident_of,
    linkable,
    linked,
)
from dispatch.states import OPEN_STATES
from hub.identity.access import CITY_CODE, Principal, may_see
from hub.infra.clock import Clock
from hub.services.case_actions import CaseActions
from hub.services.review import build_review, review_xlsx
from hub.store.committer import GroupCommitter
from hub.store.events import AppendRequest, VersionConflict
from hub.store.incidents import IncidentLink, IncidentReads, IncidentRow
from hub.store.reads import CaseReads

log = logging.getLogger(__name__)
REVIEW_XLSX = "review.xlsx"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_OPEN_LINKS = 5_000  # one "link the open ones" request takes at most this many cases


class IncidentError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []


def link_request(incident_id: str, case_ids: Sequence[str], how: str, now: datetime, actor: str,
                 scope: list[str], key: str | None = None, by: JsonDict | None = None,
                 extra: dict[str, Any] | None = None) -> AppendRequest:
    """An `incident.case_linked` append at the end of the incident's stream."""
    return AppendRequest(uuid.UUID(incident_id), None, [linked(case_ids, how, now, by)], now,
                         metadata={"actor": actor, "scope": scope, **(extra or {})}, idempotency_key=key,
                         projection=IncidentLink(incident_id, tuple(case_ids), how, now))


def _by(principal: Principal) -> JsonDict:
    return {"username": principal.name, "role": principal.role, "name": principal.display_name or principal.name}


class Incidents:
    def __init__(self, reads: IncidentReads, cases: CaseReads, actions: CaseActions, committer: GroupCommitter,
                 pool: asyncpg.Pool, clock: Clock, counties: Callable[[], list[str]] = list) -> None:
        self.reads = reads
        self._cases = cases
        self._actions = actions
        self._committer = committer
        self._pool = pool
        self._clock = clock
        self._active: tuple[Incident, ...] = ()
        self._counties = counties

    def scope(self, doc: JsonDict) -> list[str]:
        """Who watches an incident's events live: its areas, and every county when it covers the whole city
        (the console feed's index looks downwards from a console's area only)."""
        codes = area_scope(doc)
        return [*codes, *self._counties()] if CITY_CODE in codes else codes

    # --- the active incidents, for intake -------------------------------------------------------------

    def active(self) -> tuple[Incident, ...]:
        return self._active

    async def refresh(self) -> None:
        self._active = tuple(incident_of(doc) for doc in await self.reads.active())

    async def run_watch(self, poll_s: float) -> None:
        """Follow other processes' declarations and closes (a background job of every process)."""
        while True:
            await asyncio.sleep(poll_s)
            try:
                await self.refresh()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("active incidents not refreshed", extra={"error": str(exc)})

    # --- changes --------------------------------------------------------------------------------------

    async def _append(self, doc: JsonDict, expected: int, event: DomainEvent, new: JsonDict, now: datetime,
                      actor: str, extra: dict[str, Any]) -> None:
        await self._committer.append(AppendRequest(
            uuid.UUID(doc["incident_id"]), expected, [event], now,
            metadata={"actor": actor, "scope": self.scope(new), **extra}, projection=IncidentRow(new)))
        await self.refresh()

    async def declare(self, principal: Principal, fields: JsonDict, extra: dict[str, Any]) -> JsonDict:
        now = self._clock.now()
        incident_id = str(uuid.uuid4())
        event, doc = declared(incident_id, fields, _by(principal), now)
        await self._append(doc, 0, event, doc, now, f"{principal.role}:{principal.name}", extra)
        return doc

    async def set_level(self, principal: Principal, doc: JsonDict, level: str, note: str | None,
                        extra: dict[str, Any]) -> JsonDict:
        return await self._change(principal, doc, extra, lambda d, now: change_level(d, level, _by(principal), now,
                                                                                     note))

    async def close(self, principal: Principal, doc: JsonDict, summary: str, extra: dict[str, Any]) -> JsonDict:
        closed = await self._change(principal, doc, extra, lambda d, now: close(d, _by(principal), summary, now))
        try:
            await self.produce_review(closed)
        except (OSError, asyncpg.PostgresError):  # the close is recorded; GET …/review.xlsx makes it again
            log.exception("review report not stored", extra={"incident": closed["incident_id"]})
        return closed

    async def _change(self, principal: Principal, doc: JsonDict, extra: dict[str, Any],
                      decide: Callable[[JsonDict, datetime], DomainEvent | str]) -> JsonDict:
        for _ in range(5):
            now = self._clock.now()
            event = decide(doc, now)
            if isinstance(event, str):
                raise IncidentError(422, "illegal_transition", event)
            new = apply_incident(doc, event.type, event.data, doc["version"] + 1)
            try:
                await self._append(doc, doc["version"], event, new, now, f"{principal.role}:{principal.name}", extra)
            except VersionConflict:  # a case linked meanwhile: read it again
                fresh = await self.reads.get(doc["incident_id"])
                if fresh is None:
                    break
                doc = fresh
                continue
            return new
        raise IncidentError(409, "version_conflict", "the incident keeps changing; try again")

    async def link(self, principal: Principal, doc: JsonDict, case_ids: Sequence[str] | None,
                   extra: dict[str, Any]) -> list[str]:
        """Link open cases by hand: the ones named (each must be visible to the caller and open), or with
        `case_ids` None every open case in the incident's areas and categories not linked yet."""
        if doc["state"] != "active":
            raise IncidentError(422, "illegal_transition", "the incident is closed")
        incident = incident_of(doc)
        cases: list[Case] = []
        if case_ids is None:
            found = await self._open_cases(incident)
            cases = [c for c in found if may_see(principal, c) and linkable(c, incident, OPEN_STATES)]
        else:
            docs = await self._cases.get_many(list(case_ids))
            problems = []
            for i, case_id in enumerate(case_ids):
                one = docs.get(case_id)
                other = (one.get("incident") or {}).get("incident_id") if one is not None else None
                if one is None or not may_see(principal, one):
                    problems.append({"field": f"case_ids[{i}]", "message": f"no such case: {case_id}"})
                elif one["state"] not in OPEN_STATES:
                    problems.append({"field": f"case_ids[{i}]", "message": f"the case is {one['state']}"})
                elif other is not None and other != doc["incident_id"]:
                    problems.append({"field": f"case_ids[{i}]", "message": f"the case is linked to incident {other}"})
                elif other is None:
                    cases.append(one)
            if problems:
                raise IncidentError(422, "validation_failed", "some cases cannot be linked", problems)
        done: list[str] = []
        ref = {**incident.ref(), "linked_by": _by(principal)}
        for case in cases:
            event = DomainEvent("case.incident_linked", {"incident": ref})
            current: Case | None = case
            for _ in range(3):
                if current is None or current.get("incident") or current["state"] not in OPEN_STATES:
                    break
                if await self._actions.system(current, [event]):
                    done.append(current["case_id"])
                    break
                current = await self._cases.get(current["case_id"])  # it changed meanwhile: read it again
        if done:
            now = self._clock.now()
            await self._committer.append(link_request(
                doc["incident_id"], done, "by_hand", now, f"{principal.role}:{principal.name}", self.scope(doc),
                by=_by(principal), extra=extra))
        return done

    async def _open_cases(self, incident: Incident) -> list[Case]:
        """Open cases in the incident's areas (by the slim columns), not linked to an incident yet."""
        prefixes = [a[:4] + "%" if len(a) == 6 and a.endswith("00") else a + "%" for a in incident.areas]
        categories = [c + "%" for c in incident.categories] or ["%"]
        rows = await self._pool.fetch(
            "SELECT doc FROM cases WHERE state = ANY($1::text[]) AND (county_code LIKE ANY($2::text[]) "
            "OR township_code LIKE ANY($2::text[])) AND category_code LIKE ANY($3::text[]) "
            "AND coalesce(doc -> 'incident', 'null'::jsonb) = 'null'::jsonb ORDER BY created_at LIMIT $4",
            sorted(OPEN_STATES), prefixes, categories, MAX_OPEN_LINKS)
        return [r["doc"] for r in rows]

    # --- the review report (复盘) ----------------------------------------------------------------------

    async def produce_review(self, doc: JsonDict) -> bytes:
        """Build the review of a closed incident and keep it with the incident."""
        review = await build_review(self._pool, self.reads, doc)
        content = await asyncio.to_thread(review_xlsx, review)
        await self.reads.store_document(doc["incident_id"], REVIEW_XLSX, XLSX_TYPE, content, self._clock.now())
        return content

