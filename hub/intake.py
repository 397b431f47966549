"""Application service for new cases: route, let the domain decide, append, answer after commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from dispatch.case import Intake, area_codes, fold, receive
from dispatch.policy import Policy
from geo.crs import Crs
from hub.clock import Clock
from hub.committer import GroupCommitter
from hub.eventstore import AppendRequest, AppendResult
from hub.locator import Locator


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    case_id: uuid.UUID
    result: AppendResult


class IntakeService:
    def __init__(self, locator: Locator, committer: GroupCommitter, policy: Policy, clock: Clock) -> None:
        self._locator = locator
        self._committer = committer
        self._policy = policy
        self._clock = clock

    async def submit(self, intake_source: str, report: dict[str, object], point: tuple[float, float, Crs] | None,
                     address: str | None, idempotency_key: str, actor: str) -> IntakeOutcome:
        placed = self._locator.place(point, address)
        intake = Intake(source=intake_source, report=report, location=placed.wgs84)
        now = self._clock.now()
        events = receive(intake, placed.routing(), now=now, policy=self._policy)
        case_id = uuid.uuid4()
        case = fold(str(case_id), [(e.type, e.data, i + 1, now) for i, e in enumerate(events)])
        codes = area_codes(case) if case is not None else []
        request = AppendRequest(
            stream_id=case_id, expected_version=0, events=events, occurred_at=now,
            # `scope`: where the case is, so consoles are chosen by where it was when this happened.
            metadata={"actor": actor, "source": intake_source, "idempotency_key": idempotency_key,
                      "scope": codes},
            idempotency_key=idempotency_key, projection=case,
        )
        result = await self._committer.append(request)
        return IntakeOutcome(result.stream_id, result)
