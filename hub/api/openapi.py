"""/openapi.json: the operations every route declares beside its handler (hub.api.routes), with the
components generated from the pydantic models the handlers validate with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from connectors.hotline import HotlineTicket
from dispatch.commands import PUBLIC_COMMANDS
from dispatch.inputs import MAX_BIGINT
from hub.api import alerts as alerts_api
from hub.api import directives as directives_api
from hub.api import grid
from hub.api import incidents as incidents_api
from hub.api import iot as iot_api
from hub.api.geo import RouteRequest
from hub.api.hotline import TicketAccepted, TicketBatch
from hub.api.identity import LoginRequest, LoginResponse
from hub.api.schema import Error, inline_defs
from hub.services.duty import DutyAssignment

# The models operations refer to by `$ref` (hub.api.schema.ref): they become components.schemas.
_MODELS: list[type[BaseModel]] = [HotlineTicket, TicketAccepted, LoginRequest, LoginResponse, Error, RouteRequest,
                                  TicketBatch, *iot_api.OPENAPI_MODELS, *grid.OPENAPI_MODELS,
                                  *alerts_api.OPENAPI_MODELS, DutyAssignment, *directives_api.OPENAPI_MODELS,
                                  *incidents_api.OPENAPI_MODELS]


def action_request_schema() -> dict[str, Any]:
    """An action on a case: `action` names it (INTERFACES.md), `expected_version` is the version last seen,
    and the command's own fields sit beside them — one variant per public command, from its model."""
    variants = []
    for name, model in PUBLIC_COMMANDS.items():
        schema = inline_defs(model.model_json_schema())
        schema["title"] = f"{model.__name__}Action"
        schema["properties"] = {"action": {"const": name},
                                "expected_version": {"type": "integer", "minimum": 0, "maximum": MAX_BIGINT},
                                **schema.get("properties", {})}
        schema["required"] = ["action", "expected_version", *schema.get("required", [])]
        variants.append(schema)
    return {"title": "ActionRequest", "oneOf": variants}


_LOCAL_DEFS = "#/$defs/"
_COMPONENTS = "#/components/schemas/"


def hoist_defs(node: Any, schemas: dict[str, Any]) -> Any:
    """`node` with every `$defs` in it moved into `schemas` (components.schemas) and every `#/$defs/X` made
    `#/components/schemas/X`. A pydantic model's schema keeps its nested models in its own `$defs` and refers
    to them from its root; embedded anywhere in the document, `#/$defs/X` would resolve against the
    document's root, where there is none. Two different schemas under one name are refused, naming it."""
    if isinstance(node, list):
        return [hoist_defs(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$defs" and isinstance(value, dict):
            for name, schema in value.items():
                hoisted = hoist_defs(schema, schemas)
                if schemas.setdefault(name, hoisted) != hoisted:
                    raise ValueError(f"two different schemas are named {name!r} in /openapi.json")
        elif key == "$ref" and isinstance(value, str) and value.startswith(_LOCAL_DEFS):
            out[key] = _COMPONENTS + value.removeprefix(_LOCAL_DEFS)
        else:
            out[key] = hoist_defs(value, schemas)
    return out


def build_spec(paths: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI document of `paths` (hub.api.routes derives them from the route table) with the
    components their operations refer to."""
    _, generated = models_json_schema([(m, "validation") for m in _MODELS], ref_template=_COMPONENTS + "{model}")
    schemas: dict[str, Any] = {}
    hoist_defs({"$defs": {**generated.get("$defs", {}), "ActionRequest": action_request_schema()}}, schemas)
    paths = hoist_defs(paths, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "CityLoop hub", "version": "0.1.0",
                 "description": "City operations hub. Websocket protocol: see README (GET /ws/console)."},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
