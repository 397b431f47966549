"""GET /api/v1/audit (admin, auditor): the access audit, and the one call that records a read of unmasked
personal data.

Where unmasked personal data leaves the hub: single-case reads — GET /api/v1/cases/{id} and the case in an
action's answer — for the roles that see reporters (hub.identity.access.SEES_REPORTER) and, of a confidential
ticket's content, for those `sees_confidential_content` lets read it; each is recorded here. Lists, queues and
the console websocket never carry a caller (hub.identity.access.LIST_VIEW); they carry a confidential ticket's
content only to the staff of the units handling it (`list_view`: it is their queue), which is not recorded per
delivery — their opening the case is. Open311 is public and masked, KPIs hold no personal data. Duty
officers' (值班) phone numbers are personal data too: each answer carrying one unmasked (GET /api/v1/duty, a case's
`duty_officer`) is recorded, `detail.data` ["duty_phone"] with the units. Each recorded read is recorded before
the answer is sent.
"""

from __future__ import annotations

import uuid

from aiohttp import web
from pydantic import ConfigDict, Field

from dispatch.case import Case
from dispatch.inputs import BigintId, InputModel, Moment
from hub.api.errors import ApiError, json_response
from hub.api.identity import client_address, principal_of
from hub.api.schema import Route, errors, query
from hub.identity import audit
from hub.identity.access import Principal, revealed, view_of
from hub.identity.audit import Kind
from hub.keys import POOL

READERS = ("admin", "auditor")


class AuditQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind | None = None
    username: str | None = Field(default=None, min_length=1, max_length=64)
    case_id: uuid.UUID | None = None
    since: Moment | None = Field(default=None, alias="from", description="inclusive, ISO 8601 with zone")
    until: Moment | None = Field(default=None, alias="to", description="exclusive, ISO 8601 with zone")
    cursor: BigintId | None = Field(default=None, ge=1, description="next_cursor of the previous page")
    limit: int = Field(default=100, ge=1, le=500)


async def record_case_read(request: web.Request, principal: Principal, case: Case) -> None:
    """`principal` is about to receive `case` in its own view (`view_of`): record it when that view unmasks
    personal data the case holds (who, when — the entry's time —, which case, through which path, and what)."""
    found = revealed(case, view_of(principal, case))
    if found:
        await audit.record(request.app[POOL], "personal_data_read", username=principal.name, role=principal.role,
                           address=client_address(request), case_id=case.get("case_id"),
                           path=f"{request.method} {request.path}", detail={"data": found})


async def record_duty_read(request: web.Request, principal: Principal, units: list[str],
                           case: Case | None = None) -> None:
    """`principal` is about to receive the unmasked phone numbers of these units' duty officers (值班): recorded
    like a caller's number (which units; the case whose panel showed them, if any)."""
    if units:
        await audit.record(request.app[POOL], "personal_data_read", username=principal.name, role=principal.role,
                           address=client_address(request), case_id=case.get("case_id") if case else None,
                           path=f"{request.method} {request.path}",
                           detail={"data": ["duty_phone"], "units": sorted(set(units))})


async def list_audit(request: web.Request) -> web.Response:
    await principal_of(request, *READERS)
    q = AuditQuery.model_validate(dict(request.query))
    if q.since is not None and q.until is not None and q.since >= q.until:
        raise ApiError(422, "validation_failed", "the request has invalid fields",
                       [{"field": "to", "message": "must be later than `from`"}])
    rows = await audit.entries(request.app[POOL], audit.AuditFilter(
        kind=q.kind, username=q.username, case_id=q.case_id, since=q.since, until=q.until, before_id=q.cursor,
        limit=q.limit + 1))
    page = rows[: q.limit]
    return json_response({"entries": page, "next_cursor": str(page[-1]["id"]) if len(rows) > q.limit else None})


ROUTES = [
    Route("GET", "/api/v1/audit", list_audit, {
        "operationId": "list_audit",
        "summary": "the append-only access audit, newest first: personal_data_read, login_failed, login_locked, "
                   "logout, user_disabled (admin, auditor)",
        "security": [{"bearer": []}], "parameters": query(AuditQuery),
        "responses": {"200": {"description": "entries[] ({id, at, kind, username, role, address, case_id, path, "
                                             "detail}) and next_cursor"},
                      **errors(401, 403, 422)}}),
]
