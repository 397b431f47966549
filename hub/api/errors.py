"""One error shape for every endpoint: {"error": {"code", "message", "fields": [{"field", "message"}]}}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from hub.db import is_unavailable
from hub.eventstore import StoreOverloaded, StoreUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str, fields: list[dict[str, str]] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "fields": fields or []}}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def validation_fields(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic errors as {"field": "location.lat", "message": "..."}: which field, and why."""
    fields = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"])
        fields.append({"field": prefix + path if path else prefix.rstrip(".") or "body", "message": err["msg"]})
    return fields


async def read_json(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                           ) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.fields)
    except ValidationError as exc:
        return error_response(422, "validation_failed", "the request has invalid fields", validation_fields(exc))
    except StoreOverloaded:
        return error_response(503, "overloaded", "the hub is busy; retry shortly", headers={"Retry-After": "1"})
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "the event store cannot be reached; nothing was written",
                              headers={"Retry-After": "2"})
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise
    except Exception as exc:
        if is_unavailable(exc):
            return error_response(503, "store_unavailable", "the database cannot be reached; retry shortly",
                                  headers={"Retry-After": "2"})
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal", "internal error; it has been logged")
