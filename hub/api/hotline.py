"""POST /api/v1/hotline/tickets: one 12345 ticket → a case, idempotent by ticket_no."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ValidationError

from connectors.callback_origins import BadOrigin, allowed, origin_of
from connectors.hotline import HotlineTicket
from hub.api.errors import ApiError, json_response, read_json, validation_fields
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, json_body
from hub.identity.access import Principal
from hub.keys import INTAKE, METRICS, SETTINGS
from hub.store.events import StoreOverloaded, StoreUnavailable

log = logging.getLogger(__name__)

BATCH_MAX = 1_000


class TicketAccepted(BaseModel):
    case_id: str
    position: int
    duplicate: bool


class TicketBatch(BaseModel):
    """Up to 1,000 tickets; each is validated and recorded on its own (one bad ticket fails alone).

    Not an InputModel on purpose: its check would refuse the whole batch for one ticket's control character.
    Each ticket is checked as a HotlineTicket (an InputModel) by itself instead."""

    tickets: list[Any]


def _check_callback(request: web.Request, principal: Principal, ticket: HotlineTicket) -> None:
    """SSRF guard at the door: a `callback_url` must be under an origin registered for this key or allowed
    for all (connectors.callback_origins); the outbox checks again, after DNS, before sending anything."""
    if ticket.callback_url is None:
        return
    url = str(ticket.callback_url)
    if allowed(url, [*principal.callback_origins, *request.app[SETTINGS].callback_allowed_origins]):
        return
    try:
        origin = origin_of(url)
    except BadOrigin:
        origin = "its origin"
    raise ApiError(422, "validation_failed", "the ticket has invalid fields", [{
        "field": "callback_url",
        "message": f"{origin} is not a callback origin registered for this key; the hub's operator registers "
                   "origins with `cityloop keys add|origins … --callback-origin`"}])


async def _record(request: web.Request, principal: Principal, ticket: HotlineTicket) -> TicketAccepted:
    outcome = await request.app[INTAKE].submit(ticket.submission(), actor=f"hotline:{principal.name}")
    duplicate = outcome.result.duplicate
    request.app[METRICS].inc("hotline_tickets_duplicate_total" if duplicate else "hotline_tickets_total")
    return TicketAccepted(case_id=str(outcome.case_id), position=outcome.result.first_position,
                          duplicate=duplicate)


async def push_ticket(request: web.Request) -> web.Response:
    principal = await principal_of(request, "hotline")
    ticket = HotlineTicket.model_validate(await read_json(request))
    _check_callback(request, principal, ticket)
    answer = await _record(request, principal, ticket)
    # 202: a new case was recorded (and routed); 200: this ticket_no was seen before, same answer.
    return json_response(answer.model_dump(), status=200 if answer.duplicate else 202)


async def push_batch(request: web.Request) -> web.Response:
    """A result per ticket, in order, each with the status the single endpoint would have answered.
    The tickets are recorded concurrently, so the group committer writes them in a few transactions."""
    principal = await principal_of(request, "hotline")
    body = await read_json(request)
    batch = TicketBatch.model_validate(body)
    if not batch.tickets:
        raise ApiError(422, "validation_failed", "the batch is empty", [{"field": "tickets", "message": "empty"}])
    if len(batch.tickets) > BATCH_MAX:
        raise ApiError(413, "batch_too_large", f"at most {BATCH_MAX} tickets per batch, not {len(batch.tickets)}",
                       [{"field": "tickets", "message": f"split into batches of {BATCH_MAX}"}])
    results = await asyncio.gather(*(_one(request, principal, i, raw) for i, raw in enumerate(batch.tickets)))
    counts = {"accepted": sum(r["status"] == 202 for r in results),
              "duplicates": sum(r["status"] == 200 for r in results),
              "rejected": sum(r["status"] >= 400 for r in results)}
    return json_response({"results": results, **counts})


async def _one(request: web.Request, principal: Principal, index: int, raw: Any) -> dict[str, Any]:
    ticket_no = raw.get("ticket_no") if isinstance(raw, dict) else None
    head = {"index": index, "ticket_no": ticket_no}
    try:
        ticket = HotlineTicket.model_validate(raw)
        _check_callback(request, principal, ticket)
    except ValidationError as exc:
        return {**head, "status": 422, "error": {"code": "validation_failed",
                                                 "message": "the ticket has invalid fields",
                                                 "fields": validation_fields(exc)}}
    except ApiError as exc:
        return {**head, "status": exc.status, "error": {"code": exc.code, "message": exc.message,
                                                        "fields": exc.fields}}
    try:
        answer = await _record(request, principal, ticket)
    except (StoreOverloaded, StoreUnavailable) as exc:  # nothing written for this one: retry it
        return {**head, "status": 503, "error": {"code": "store_unavailable", "message": str(exc) or
                                                 "the store is busy or down; retry this ticket", "fields": []}}
    except asyncpg.DataError as exc:
        # Valid to the model, refused by PostgreSQL: this ticket's value, answered as the single endpoint
        # would (422). The committer retries a failed group commit item by item, so the others are stored.
        log.warning("the database refused a value of a batched ticket",
                    extra={"path": request.path, "index": index, "error": type(exc).__name__})
        return {**head, "status": 422, "error": {"code": "invalid_value", "message": "a value of this ticket "
                                                 "cannot be stored (a control character, or a number or date "
                                                 "out of range)", "fields": []}}
    except Exception:
        # A fault with one ticket must not lose the answers of the others (they may already be stored).
        log.exception("a batched ticket failed", extra={"path": request.path, "index": index})
        return {**head, "status": 500, "error": {"code": "internal", "message": "internal error; it has been "
                                                 "logged", "fields": []}}
    return {**head, "status": 200 if answer.duplicate else 202, **answer.model_dump()}


ROUTES = [
    Route("POST", "/api/v1/hotline/tickets", push_ticket, {
        "summary": "push one 12345 ticket (idempotent by ticket_no)", "security": [{"apiKey": []}],
        "requestBody": json_body(HotlineTicket),
        "responses": {"202": {"description": "new case", **json_body(TicketAccepted)},
                      "200": {"description": "ticket seen before: the same answer", **json_body(TicketAccepted)},
                      **errors(401, 403, 422, 503)}}),
    Route("POST", "/api/v1/hotline/tickets:batch", push_batch, {
        "summary": "push up to 1,000 tickets; a result per ticket with its own status (202, 200, 422, 503)",
        "security": [{"apiKey": []}], "requestBody": json_body(TicketBatch),
        "responses": {"200": {"description": "results[] in order, and counts"}, **errors(401, 403, 413, 422)}}),
]
