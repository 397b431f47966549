"""Application service for new cases: route, let the domain decide, append, answer after commit."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors.submission import Submission
from dispatch.case import Intake, area_codes, fold, receive
from dispatch.commands import Merge
from dispatch.events import Case, DomainEvent
from dispatch.fold import fold_onto
from dispatch.lifecycle import decide
from dispatch.merge import best_match
from dispatch.permissions import SYSTEM, Refusal
from dispatch.policy import Policy
from dispatch.states import UNRESOLVED_STATES
from hub.infra.clock import Clock
from hub.services.case_actions import CaseActions
from hub.services.locator import Locator
from hub.store.committer import GroupCommitter
from hub.store.events import AppendRequest, AppendResult
from hub.store.reads import CaseReads


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    case_id: uuid.UUID
    result: AppendResult


class IntakeService:
    def __init__(self, locator: Locator, committer: GroupCommitter, policy: Policy, clock: Clock,
                 reads: CaseReads, actions: CaseActions) -> None:
        self._locator = locator
        self._committer = committer
        self._policy = policy
        self._clock = clock
        self._reads = reads
        self._actions = actions

    async def submit(self, submission: Submission, actor: str) -> IntakeOutcome:
        """Route, decide and record a new problem from any channel; answered after the commit."""
        placed = self._locator.place(submission.point, submission.address)
        intake = Intake(source=submission.source, report=submission.report, location=placed.wgs84)
        now = self._clock.now()
        events = receive(intake, placed.routing(), now=now, policy=self._policy)
        case_id = uuid.uuid4()
        case = fold(str(case_id), [(e.type, e.data, i + 1, now) for i, e in enumerate(events)])
        assert case is not None
        duplicate_of = await self._duplicate_of(case, now)
        if duplicate_of is not None:
            more = self._merge_events(case, *duplicate_of, now)
            events = [*events, *more]
            case = fold_onto(case, more, now)
        codes = area_codes(case)
        request = AppendRequest(
            stream_id=case_id, expected_version=0, events=events, occurred_at=now,
            # `scope`: where the case is, so consoles are chosen by where it was when this happened.
            metadata={"actor": actor, "source": submission.source, "idempotency_key": submission.idempotency_key,
                      "scope": codes},
            idempotency_key=submission.idempotency_key, projection=case,
        )
        result = await self._committer.append(request)
        if not result.duplicate:
            await self._actions.follow_up(case, events)  # a merged child is attached to its parent
        return IntakeOutcome(result.stream_id, result)

    async def _duplicate_of(self, case: Case, now: datetime) -> tuple[Case, float, str] | None:
        """The open case this one most likely repeats (same category, nearby, recent; IoT: same device),
        with the score and "auto" (merge now) or "suggest" (the operator decides)."""
        merge = self._policy.merge
        report = case.get("report") or {}
        category, location = report.get("category"), case.get("location")
        if not category or case["state"] != "dispatched":
            return None
        since = now - timedelta(hours=merge.window_hours)
        if location is not None:
            # A box a little larger than the merge radius (1° of latitude ≈ 111 km); the score is exact.
            dlat = merge.radius_m / 111_000 * 1.1
            dlng = dlat / max(0.2, math.cos(math.radians(location["lat"])))
            rows = await self._reads.open_near(
                category, (location["lat"] - dlat, location["lat"] + dlat),
                (location["lng"] - dlng, location["lng"] + dlng), since, sorted(UNRESOLVED_STATES))
        elif report.get("address"):
            rows = await self._reads.open_at_address(category, report["address"], since,
                                                     sorted(UNRESOLVED_STATES))
        else:
            return None
        docs = {doc["case_id"]: doc for doc in rows}
        match = best_match(case, docs.values(), now, merge)
        if match is None:
            return None
        parent_id, score, decision = match
        return docs[parent_id], score, decision

    def _merge_events(self, case: Case, parent: Case, score: float, decision: str, now: datetime
                      ) -> list[DomainEvent]:
        if decision == "auto":
            merged = decide(case, Merge(into=parent["case_id"]), SYSTEM, now, self._policy,
                            {parent["case_id"]: parent})
            if not isinstance(merged, Refusal):
                return list(merged)
        return [DomainEvent("case.merge_suggested", {"into": parent["case_id"], "score": score})]
