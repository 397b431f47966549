"""The building blocks of /openapi.json that every API module uses to describe its own routes: the error
shape, query parameters and JSON bodies from pydantic models. A leaf module (it imports no handlers), so
channel modules can describe their paths without importing hub.api.openapi."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# An operation's stable, readable name: snake_case, verb first (list_alerts, get_case, act_on_case).
OPERATION_ID = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class Route:
    """One route of the hub, declared in the module that handles it with its OpenAPI operation beside it;
    hub.api.routes collects every module's `ROUTES` into the one route table and into /openapi.json."""

    method: str
    path: str
    handler: Handler
    # None: not part of the REST description (the websocket, console pages, the Open311 catch-all).
    operation: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Client generators name their methods after operationId, so it is declared by hand beside the route
        # (not derived from the handler, whose name is an implementation detail: closures, wrappers) and
        # refused at import when missing; hub.api.routes refuses two alike.
        if self.operation is None:
            return
        operation_id = self.operation.get("operationId")
        if not isinstance(operation_id, str) or not OPERATION_ID.fullmatch(operation_id):
            raise ValueError(f"{self.method} {self.path}: its operation needs an operationId in snake_case "
                             f"(verb_noun, e.g. list_alerts), not {operation_id!r}")


class ErrorField(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: list[ErrorField]


class Error(BaseModel):
    error: ErrorBody


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its local `$defs` references inlined, to embed it where those `$defs` do
    not travel with it (a query parameter, a form field): a `#/$defs/...` left in /openapi.json points
    nowhere."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


def query(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = inline_defs(model.model_json_schema(by_alias=True))
    return [{"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop}
            for name, prop in schema["properties"].items()]


def ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to a model in components.schemas (hub.api.openapi lists the models it must hold)."""
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": ref(model)}}}


_BUSY: dict[str, Any] = {
    "description": "`overloaded` (the hub is full: nothing was done, or it fell behind) or `store_unavailable` "
                   "(the database is down or stalled); retry after Retry-After seconds (drawn at random from a "
                   "range, to spread the retries) with the same idempotency key",
    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}}


def errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "error", **json_body(Error), **(_BUSY if c == 503 else {})} for c in codes}


# The {case_id} path parameter of every route under /api/v1/cases/{case_id}.
CASE_ID: dict[str, Any] = {"name": "case_id", "in": "path", "required": True,
                           "schema": {"type": "string", "format": "uuid"}}
