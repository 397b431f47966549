"""POST /api/v1/hotline/tickets: one 12345 ticket → a case, idempotent by ticket_no."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from connectors.hotline import HotlineTicket
from hub.api.errors import json_response, read_json
from hub.api.identity import principal_of
from hub.keys import INTAKE, METRICS


class TicketAccepted(BaseModel):
    case_id: str
    position: int
    duplicate: bool


async def push_ticket(request: web.Request) -> web.Response:
    principal = await principal_of(request, "hotline")
    ticket = HotlineTicket.model_validate(await read_json(request))
    point = (ticket.location.lng, ticket.location.lat, ticket.location.crs) if ticket.location else None
    outcome = await request.app[INTAKE].submit(
        "hotline", ticket.report(), point, ticket.address, ticket.idempotency_key(),
        actor=f"hotline:{principal.name}")
    duplicate = outcome.result.duplicate
    request.app[METRICS].inc("hotline_tickets_duplicate_total" if duplicate else "hotline_tickets_total")
    answer = TicketAccepted(case_id=str(outcome.case_id), position=outcome.result.first_position,
                            duplicate=duplicate)
    # 202: a new case was recorded (and routed); 200: this ticket_no was seen before, same answer.
    return json_response(answer.model_dump(), status=200 if duplicate else 202)
