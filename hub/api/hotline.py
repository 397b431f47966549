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
from hub.api.errors import ApiError, busy, json_response, read_json, retry_after, validation_fields
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, json_body
from hub.identity.access import Principal
from hub.infra.db import describe, is_unavailable
from hub.keys import ADMISSION, INTAKE, METRICS, SETTINGS
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
    request.app[METRICS].ingested("hotline", duplicate=duplicate)
    return TicketAccepted(case_id=str(outcome.case_id), position=outcome.result.first_position,
                          duplicate=duplicate)


async def push_ticket(request: web.Request) -> web.Response:
    admission = request.app[ADMISSION]
    async with admission.deadline():
        principal = await principal_of(request, "hotline")
    with admission.slots(1):  # before any work: 503 `overloaded` at once when the hub is full
        ticket = HotlineTicket.model_validate(await read_json(request))
        _check_callback(request, principal, ticket)
        answer = await admission.within(_record(request, principal, ticket))
    # 202: a new case was recorded (and routed); 200: this ticket_no was seen before, same answer.
    return json_response(answer.model_dump(), status=200 if answer.duplicate else 202)


async def push_batch(request: web.Request) -> web.Response:
    """A result per ticket, in order, each with the status the single endpoint would have answered.
    The tickets are recorded concurrently, so the group committer writes them in a few transactions.

    Admission takes one slot per ticket. When only some are free, the first tickets (in order) are taken
    and the rest answered 503 `overloaded` each, rather than the whole batch: a hotline system already
    retries a batch's 503 tickets by themselves, the hub does what it can instead of nothing, and a large
    batch is not starved by a stream of single tickets (it would need all its slots free at once). When
    none is free, the whole batch is answered 503 at once, before its body is read."""
    admission = request.app[ADMISSION]
    async with admission.deadline():
        principal = await principal_of(request, "hotline")
    admission.refuse_if_full()  # before the body is read and parsed
    body = await read_json(request)
    batch = TicketBatch.model_validate(body)
    if not batch.tickets:
        raise ApiError(422, "validation_failed", "the batch is empty", [{"field": "tickets", "message": "empty"}])
    if len(batch.tickets) > BATCH_MAX:
        raise ApiError(413, "batch_too_large", f"at most {BATCH_MAX} tickets per batch, not {len(batch.tickets)}",
                       [{"field": "tickets", "message": f"split into batches of {BATCH_MAX}"}])
    with admission.slots(len(batch.tickets), partial=True) as admitted:
        results = await asyncio.gather(*(_one(request, principal, i, raw)
                                         for i, raw in enumerate(batch.tickets[:admitted])))
    if admitted < len(batch.tickets):
        full = StoreOverloaded(f"{admitted} of the {len(batch.tickets)} tickets were taken; the hub is full — "
                               "nothing was done for this one")
        results += [_busy(request, _head(i, raw), full) for i, raw in enumerate(batch.tickets) if i >= admitted]
    counts = {"accepted": sum(r["status"] == 202 for r in results),
              "duplicates": sum(r["status"] == 200 for r in results),
              "rejected": sum(r["status"] >= 400 for r in results)}
    waits = [r["retry_after"] for r in results if r["status"] == 503]
    # Also as a header, for a client that looks only there: by then every 503 ticket may be retried.
    headers = {"Retry-After": str(max(waits))} if waits else None
    return json_response({"results": results, **counts}, headers=headers)


def _head(index: int, raw: Any) -> dict[str, Any]:
    return {"index": index, "ticket_no": raw.get("ticket_no") if isinstance(raw, dict) else None}


def _busy(request: web.Request, head: dict[str, Any], exc: StoreOverloaded | StoreUnavailable) -> dict[str, Any]:
    """A ticket answered 503: `overloaded` or `store_unavailable`, and its own jittered `retry_after`."""
    code, message = busy(exc)
    wait = int(retry_after(request, exc)["Retry-After"])
    return {**head, "status": 503, "error": {"code": code, "message": message, "fields": []}, "retry_after": wait}


async def _one(request: web.Request, principal: Principal, index: int, raw: Any) -> dict[str, Any]:
    head = _head(index, raw)
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
        answer = await request.app[ADMISSION].within(_record(request, principal, ticket))
    except (StoreOverloaded, StoreUnavailable) as exc:  # not written, or not known to be: retry this one
        return _busy(request, head, exc)
    except asyncpg.DataError as exc:
        # Valid to the model, refused by PostgreSQL: this ticket's value, answered as the single endpoint
        # would (422). The committer retries a failed group commit item by item, so the others are stored.
        log.warning("the database refused a value of a batched ticket",
                    extra={"path": request.path, "index": index, "error": type(exc).__name__})
        return {**head, "status": 422, "error": {"code": "invalid_value", "message": "a value of this ticket "
                                                 "cannot be stored (a control character, or a number or date "
                                                 "out of range)", "fields": []}}
    except Exception as exc:
        if is_unavailable(exc):  # the database went away (a lost connection, a refused one)
            return _busy(request, head, StoreUnavailable(describe(exc)))
        # A fault with one ticket must not lose the answers of the others (they may already be stored).
        log.exception("a batched ticket failed", extra={"path": request.path, "index": index})
        return {**head, "status": 500, "error": {"code": "internal", "message": "internal error; it has been "
                                                 "logged", "fields": []}}
    return {**head, "status": 200 if answer.duplicate else 202, **answer.model_dump()}


ROUTES = [
    Route("POST", "/api/v1/hotline/tickets", push_ticket, {
        "operationId": "push_hotline_ticket",
        "summary": "push one 12345 ticket (idempotent by ticket_no)", "security": [{"apiKey": []}],
        "requestBody": json_body(HotlineTicket),
        "responses": {"202": {"description": "new case", **json_body(TicketAccepted)},
                      "200": {"description": "ticket seen before: the same answer", **json_body(TicketAccepted)},
                      **errors(401, 403, 422, 503)}}),
    Route("POST", "/api/v1/hotline/tickets:batch", push_batch, {
        "operationId": "push_hotline_ticket_batch",
        "summary": "push up to 1,000 tickets; a result per ticket with its own status (202, 200, 422, 503)",
        "security": [{"apiKey": []}], "requestBody": json_body(TicketBatch),
        "responses": {"200": {"description": "results[] in order, and counts; a ticket answered 503 (`overloaded`: "
                                             "the hub took only the first tickets; `store_unavailable`) carries "
                                             "`retry_after` seconds, and the answer a Retry-After header"},
                      **errors(401, 403, 413, 422, 503)}}),
]
