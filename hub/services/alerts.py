"""Alerts (监测预警): recording what the detector decides, and people's acknowledge / close.

Every change is an append on the alert's own stream with its expected version, carrying the folded document for
the `alerts` projection (hub.store.alerts) and the alert's areas as `scope` (the console feed's visibility).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from dispatch.events import DomainEvent, JsonDict
from dispatch.warning import ALERT_ACTIONS, apply_alert, area_scope, new_alert
from hub.identity.access import Principal
from hub.store.alerts import AlertReads, AlertRow, alert_visible
from hub.store.committer import GroupCommitter
from hub.store.events import AppendRequest, VersionConflict

log = logging.getLogger(__name__)
DETECTOR_ACTOR = "system:warning"


class AlertError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _request(doc: JsonDict, expected: int, event: DomainEvent, now: datetime, actor: str,
             extra: dict[str, Any] | None = None, key: str | None = None) -> tuple[AppendRequest, JsonDict]:
    new = apply_alert(doc, event.type, event.data, expected + 1)
    return AppendRequest(uuid.UUID(doc["alert_id"]), expected, [event], now,
                         metadata={"actor": actor, "scope": area_scope(new), **(extra or {})},
                         idempotency_key=key, projection=AlertRow(new)), new


class Alerts:
    def __init__(self, reads: AlertReads, committer: GroupCommitter) -> None:
        self.reads = reads
        self._committer = committer

    async def raise_alert(self, alert_id: str, evidence: JsonDict, now: datetime) -> JsonDict | None:
        """Record a new alert; None when it is already recorded (the same episode evaluated again)."""
        req, doc = _request(new_alert(alert_id), 0, DomainEvent("alert.raised", evidence), now, DETECTOR_ACTOR,
                            key=f"alert:{alert_id}:raised")
        try:
            result = await self._committer.append(req)
        except VersionConflict:
            return None
        return None if result.duplicate else doc

    async def update_alert(self, alert_id: str, evidence: JsonDict, now: datetime) -> JsonDict | None:
        """Record the growth of an alert; a closed alert is left as it is (its episode runs out quietly)."""
        for _ in range(3):
            doc = await self.reads.get(alert_id)
            if doc is None or doc["state"] == "closed":
                return None
            if doc["observed"] == evidence["observed"] and doc["case_ids"] == evidence["case_ids"]:
                return doc  # nothing grew
            req, new = _request(doc, doc["version"], DomainEvent("alert.updated", evidence), now, DETECTOR_ACTOR)
            try:
                await self._committer.append(req)
            except VersionConflict:
                continue  # acknowledged meanwhile: read it again
            return new
        return None

    async def act(self, principal: Principal, alert_id: uuid.UUID, action: str, note: str | None,
                  extra: dict[str, Any], now: datetime) -> JsonDict:
        """acknowledge / close on behalf of a person; 404 outside their jurisdiction, 403 for their role."""
        event_type, roles, from_states = ALERT_ACTIONS[action]
        for _ in range(3):
            doc = await self.reads.get(alert_id)
            if doc is None or not principal.area or not alert_visible(doc, frozenset({principal.area})):
                raise AlertError(404, "not_found", "no such alert")
            if principal.role not in roles:
                raise AlertError(403, "forbidden", f"role {principal.role} may not {action} an alert")
            if doc["state"] not in from_states:
                raise AlertError(422, "illegal_transition", f"the alert is {doc['state']}; cannot {action} it")
            by = {"username": principal.name, "role": principal.role,
                  "name": principal.display_name or principal.name}
            event = DomainEvent(event_type, {"by": by, "at": now.isoformat(), "note": note})
            req, new = _request(doc, doc["version"], event, now, f"{principal.role}:{principal.name}", extra)
            try:
                await self._committer.append(req)
            except VersionConflict:
                continue
            return new
        raise AlertError(409, "version_conflict", "the alert keeps changing; try again")
