"""Application service for new cases: route, let the domain decide, append, answer after commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from dispatch.case import Intake, Routing, area_codes, fold, receive
from geo.areas import NANNING
from geo.crs import Crs
from geo.router import CountyRouter, Placement
from hub.committer import GroupCommitter
from hub.eventstore import AppendRequest, AppendResult


def routing_for(placement: Placement | None) -> Routing:
    """Translate the geo answer into the domain's words (None: the case has no usable point)."""
    if placement is None:
        return Routing(inside=False, reason="no_location")
    if not placement.inside or placement.county is None:
        return Routing(inside=False, reason="outside_city")
    areas = {
        "city": {"code": NANNING.code, "name": NANNING.name},
        "county": {"code": placement.county.code, "name": placement.county.name},
    }
    return Routing(inside=True, near_boundary=placement.near_boundary, areas=areas)


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    case_id: uuid.UUID
    result: AppendResult


class IntakeService:
    def __init__(self, router: CountyRouter, committer: GroupCommitter) -> None:
        self._router = router
        self._committer = committer

    def locate(self, lng: float, lat: float, crs: Crs) -> tuple[Placement, dict[str, float]]:
        """Where a point falls, and the point in WGS84 (what the case stores)."""
        from geo.crs import to_wgs84

        wlng, wlat = to_wgs84(lng, lat, crs)
        return self._router.locate(wlng, wlat), {"lng": wlng, "lat": wlat}

    async def submit(self, intake_source: str, report: dict[str, object], point: tuple[float, float, Crs] | None,
                     idempotency_key: str, actor: str) -> IntakeOutcome:
        location = None
        placement = None
        if point is not None:
            placement, location = self.locate(*point)
        intake = Intake(source=intake_source, report=report, location=location)
        events = receive(intake, routing_for(placement))
        case_id = uuid.uuid4()
        now = datetime.now(UTC)
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
