"""One error shape for every endpoint: {"error": {"code", "message", "fields": [{"field", "message"}]}}."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import asyncpg
import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BadContentDispositionHeader, BadContentDispositionParam
from pydantic import TypeAdapter, ValidationError

from dispatch.inputs import text_problem, visible
from hub.infra.db import is_unavailable
from hub.keys import SETTINGS
from hub.store.events import StoreOverloaded, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# What aiohttp raises on a multipart or form body it cannot parse: a missing or foreign boundary, broken part
# headers, an undecodable charset, a truncated body. The client's mistake: answered 400, never 500. (The two
# warnings are what a malformed Content-Disposition emits; they are errors under warnings-as-errors.)
MALFORMED_BODY: Final = (ValueError, AssertionError, RuntimeError, HttpProcessingError,
                         BadContentDispositionHeader, BadContentDispositionParam)
# Paths whose handlers answer in a protocol's own error shape and run `refused_parameters` themselves.
OWN_ERROR_SHAPE: Final = ("/open311/",)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str, fields: list[dict[str, str]] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "fields": fields or []}}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


# The two kinds of 503, told apart so that a client (and whoever reads its logs) knows which it met:
# the hub has more work than it takes (nothing was done, or the outcome is unknown), or the database is
# stalled or down. Either way a retry with the same idempotency key is safe.
OVERLOADED: Final = "overloaded"
UNAVAILABLE: Final = "store_unavailable"


def busy(exc: StoreOverloaded | StoreUnavailable) -> tuple[str, str]:
    """The error code and message of a 503."""
    if isinstance(exc, StoreOverloaded):
        return OVERLOADED, str(exc) or "the hub is busy; retry after Retry-After"
    return UNAVAILABLE, str(exc) or "the event store cannot be reached; nothing was written"


def retry_after(request: web.Request, exc: BaseException) -> dict[str, str]:
    """A Retry-After drawn uniformly from the configured range for this kind of 503: clients refused in the
    same instant come back spread over the range instead of together — a fixed value would turn one
    overload or stall into a wave of retries every N seconds. Whole seconds (RFC 9110 delta-seconds)."""
    settings = request.app[SETTINGS]
    low, high = (settings.retry_after_overloaded_s if isinstance(exc, StoreOverloaded)
                 else settings.retry_after_unavailable_s)
    return {"Retry-After": str(random.randint(low, high))}


def busy_response(request: web.Request, exc: StoreOverloaded | StoreUnavailable) -> web.Response:
    code, message = busy(exc)
    return error_response(503, code, message, headers=retry_after(request, exc))


def validation_fields(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic errors as {"field": "location.lat", "message": "..."}: which field, and why."""
    fields = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"])
        fields.append({"field": prefix + path if path else prefix.rstrip(".") or "body", "message": err["msg"]})
    return fields


def refused_parameters(request: web.Request) -> list[dict[str, str]]:
    """Query and path parameters (names or values) holding characters no text may hold (dispatch.inputs):
    checked once for every route, so that no handler can pass one on to a query."""
    fields = []
    for name, value in (*request.query.items(), *request.match_info.items()):
        problem = text_problem(name) or text_problem(value)
        if problem is not None:
            fields.append({"field": visible(name), "message": problem})
    return fields


def path_param(request: web.Request, name: str, adapter: TypeAdapter[T]) -> T:
    """The path parameter `name` validated by `adapter`; 422 naming it when it does not fit."""
    try:
        return adapter.validate_python(request.match_info[name])
    except ValidationError as exc:
        raise ApiError(422, "validation_failed", f"{name} is not valid",
                       [{"field": name, "message": e["msg"]} for e in exc.errors(include_url=False)]) from None


def path_uuid(request: web.Request, name: str, what: str) -> uuid.UUID:
    """The UUID path parameter `name`; anything that is not a UUID names no record: 404 "no such `what`"."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise ApiError(404, "not_found", f"no such {what}") from None


async def read_json(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                           ) -> web.StreamResponse:
    try:
        if not request.path.startswith(OWN_ERROR_SHAPE):
            refused = refused_parameters(request)
            if refused:
                raise ApiError(422, "validation_failed", "a query or path parameter has invalid characters", refused)
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.fields)
    except ValidationError as exc:
        return error_response(422, "validation_failed", "the request has invalid fields", validation_fields(exc))
    except (StoreOverloaded, StoreUnavailable) as exc:
        return busy_response(request, exc)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise
    except asyncpg.DataError as exc:
        # The last line of defence: a value the models let through but PostgreSQL refuses (a character it
        # cannot store, a number or date out of its range). The client's value, so 422; logged because a
        # model should have caught it — the class says which check is missing.
        log.warning("the database refused a value of the request",
                    extra={"path": request.path, "error": type(exc).__name__})
        return error_response(422, "invalid_value", "a value in the request cannot be stored or compared "
                              "(a control character, or a number or date out of range)")
    except Exception as exc:
        if is_unavailable(exc):
            return error_response(503, UNAVAILABLE, f"the database cannot be reached or did not answer in time "
                                  f"({type(exc).__name__}); retry shortly", headers=retry_after(request, exc))
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal", "internal error; it has been logged")
