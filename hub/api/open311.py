"""Open311 GeoReport v2 under /open311/v2/: discovery, services, requests (create, list, get), tokens.

Every answer, errors included, is in the format the path asks for (`.json` or `.xml`) and in Open311's
shapes (connectors.open311); the hub's own `{"error": ...}` shape never reaches an Open311 client.
A POST creates a case through the intake service exactly as a hotline ticket does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from connectors import open311 as o
from dispatch.events import Case
from hub.api.errors import MALFORMED_BODY, UNAVAILABLE, busy, refused_parameters, retry_after
from hub.api.schema import Route
from hub.infra.db import describe, is_unavailable
from hub.keys import ADMISSION, AUTH, CLOCK, INTAKE, METRICS, POLICY, POOL, READS, SETTINGS
from hub.services.intake import IntakeOutcome
from hub.store.events import StoreOverloaded, StoreUnavailable

log = logging.getLogger(__name__)

ROOT = "/open311/v2"
Handler = Callable[[web.Request, o.Format], Awaitable[web.Response]]


def respond(fmt: o.Format, root: str, payload: Any, status: int = 200,
            headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=o.render(fmt, root, payload), status=status, headers=headers,
                        content_type=o.CONTENT_TYPES[fmt], charset="utf-8")


def error_response(fmt: o.Format, exc: o.Open311Error, headers: dict[str, str] | None = None) -> web.Response:
    return respond(fmt, "errors", exc.items(), status=exc.status, headers=headers)


def endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The format first (an unknown one is answered in XML, the spec's mandatory format), then the
    handler, whose refusals and the store's overload come back as Open311 errors. Query and path
    parameters are checked for control characters here (hub.api.errors leaves these paths to us)."""
    async def wrapped(request: web.Request) -> web.Response:
        try:
            fmt = o.parse_format(request.match_info["fmt"])
        except o.Open311Error as exc:
            return error_response(o.Format.XML, exc)
        try:
            refused = refused_parameters(request)
            if refused:
                raise o.Open311Error(400, *(f"{f['field']}: {f['message']}" for f in refused))
            return await handler(request, fmt)
        except o.Open311Error as exc:
            return error_response(fmt, exc)
        except asyncpg.DataError as exc:  # the last line of defence, as in hub.api.errors
            log.warning("the database refused a value of the request",
                        extra={"path": request.path, "error": type(exc).__name__})
            return error_response(fmt, o.Open311Error(400, "a value of the request cannot be stored or compared"))
        except (StoreOverloaded, StoreUnavailable) as exc:
            code, message = busy(exc)
            return error_response(fmt, o.Open311Error(503, f"{code}: {message}"), retry_after(request, exc))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return error_response(fmt, o.Open311Error(503, f"{UNAVAILABLE}: {describe(exc)}"),
                                  retry_after(request, exc))
    return wrapped


def _jurisdiction(request: web.Request) -> str:
    return request.app[SETTINGS].open311_jurisdiction_id


async def discovery(request: web.Request, fmt: o.Format) -> web.Response:
    o.check_jurisdiction(request.query.get("jurisdiction_id"), _jurisdiction(request))
    url = f"{request.scheme}://{request.host}{ROOT}"
    return respond(fmt, "discovery", o.discovery(url, contact="12345 政务服务便民热线"))


async def list_services(request: web.Request, fmt: o.Format) -> web.Response:
    o.check_jurisdiction(request.query.get("jurisdiction_id"), _jurisdiction(request))
    return respond(fmt, "services", [s.as_json() for s in o.services(request.app[POLICY].matrix)])


async def service_definition(request: web.Request, fmt: o.Format) -> web.Response:
    o.check_jurisdiction(request.query.get("jurisdiction_id"), _jurisdiction(request))
    service = o.find_service(request.app[POLICY].matrix, request.match_info["service_code"])
    return respond(fmt, "service_definition", o.service_definition(service))


async def create_request(request: web.Request, fmt: o.Format) -> web.Response:
    try:
        form = await request.post()
    except MALFORMED_BODY as exc:
        raise o.Open311Error(400, f"the form body cannot be read: {exc}") from None
    fields = [(name, value) for name, value in form.items() if isinstance(value, str)]
    api_key = _api_key(request.query.get("api_key"), next((v for k, v in fields if k == "api_key"), None))
    admission = request.app[ADMISSION]
    async with admission.deadline():
        client = await _open311_client(request, api_key)
    with admission.slots(1):  # before any work: 503 at once when the hub is full
        new = o.parse_new_request(fields, request.app[POLICY].matrix, _jurisdiction(request))
        token = o.request_token(client, _retry_key(request))
        outcome, case = await admission.within(_record(request, new, token, client))
    duplicate = outcome.result.duplicate
    request.app[METRICS].ingested("open311", duplicate=duplicate)
    answer = o.created(str(outcome.case_id), token, case, new.form.account_id)
    # 201: a new case; 200: a retry with the same Idempotency-Key, answered as the first time.
    return respond(fmt, "service_requests", answer, status=200 if duplicate else 201)


async def _record(request: web.Request, new: o.NewRequest, token: str, client: str
                  ) -> tuple[IntakeOutcome, Case | None]:
    outcome = await request.app[INTAKE].submit(new.submission(token, request.app[CLOCK].now()),
                                               actor=f"open311:{client}")
    return outcome, await request.app[READS].get(outcome.case_id)


def _api_key(in_query: str | None, in_form: str | None) -> str | None:
    """The client's key, from the form body or the query string: GeoReport v2 servers commonly take either,
    and some clients send it only in the query string. An empty value counts as none (clients send empty
    fields for what they do not have). Two different keys are a 400 naming api_key, answered before either
    is looked up, so that a request cannot ask which of two keys is valid."""
    keys = {key.strip() for key in (in_query, in_form) if key is not None and key.strip()}
    if len(keys) > 1:
        raise o.Open311Error(400, "api_key: the query string and the form body give different keys; give one")
    return keys.pop() if keys else None


async def _open311_client(request: web.Request, api_key: str | None) -> str:
    """The name of the Open311 client `api_key` (form body or query string) belongs to."""
    if not api_key:
        raise o.Open311Error(403, "api_key: required to create a request")
    principal = await request.app[AUTH].from_token(api_key)
    if principal is None:
        raise o.Open311Error(403, "api_key: unknown or revoked")
    if principal.role != "open311":
        raise o.Open311Error(403, "api_key: not a key for Open311 clients")
    return principal.name


def _retry_key(request: web.Request) -> str:
    """`Idempotency-Key` makes a retry safe; without it every POST is a new request."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return uuid.uuid4().hex
    key = key.strip()
    if not 1 <= len(key) <= 200:
        raise o.Open311Error(400, "Idempotency-Key: give 1 to 200 characters")
    return key


async def list_requests(request: web.Request, fmt: o.Format) -> web.Response:
    settings = request.app[SETTINGS]
    query = o.parse_request_query(request.query, request.app[POLICY].matrix, settings.open311_jurisdiction_id,
                                  request.app[CLOCK].now(), settings.open311_default_days,
                                  settings.open311_max_requests)
    # Public requests only: those submitted through Open311 (reads.OPEN311_PUBLIC).
    docs = await request.app[READS].open311_page(ids=query.ids, start=query.start, end=query.end,
                                                 categories=query.categories, states=query.states,
                                                 limit=query.limit)
    matrix = request.app[POLICY].matrix
    return respond(fmt, "service_requests", [o.request_record(doc, matrix) for doc in docs])


async def get_request(request: web.Request, fmt: o.Format) -> web.Response:
    o.check_jurisdiction(request.query.get("jurisdiction_id"), _jurisdiction(request))
    text = request.match_info["service_request_id"]
    try:
        case_id = uuid.UUID(text)
    except ValueError:
        raise o.Open311Error(404, f"service_request_id {text!r} not found") from None
    doc = await request.app[READS].open311_get(case_id)
    if doc is None:  # alike for a case that is not public: ids of other channels' cases cannot be probed
        raise o.Open311Error(404, f"service_request_id {text!r} not found")
    return respond(fmt, "service_requests", [o.request_record(doc, request.app[POLICY].matrix)])


async def get_token(request: web.Request, fmt: o.Format) -> web.Response:
    o.check_jurisdiction(request.query.get("jurisdiction_id"), _jurisdiction(request))
    token = request.match_info["token"]
    # The token's idempotency key has a row per submission: a primary-key read, however many cases.
    case_id = await request.app[POOL].fetchval(
        "SELECT stream_id FROM idempotency_keys WHERE key = $1", o.idempotency_key(token))
    if case_id is None:
        raise o.Open311Error(404, f"token {token!r} not found")
    return respond(fmt, "service_requests", [{"service_request_id": str(case_id), "token": token}])


async def not_found(request: web.Request) -> web.Response:
    """Anything else under /open311/v2/: an Open311 404 rather than the hub's own error shape."""
    fmt = o.Format.JSON if request.path.endswith(".json") else o.Format.XML
    return error_response(fmt, o.Open311Error(404, f"{request.method} {request.path} is not an Open311 resource"))


def _operation(summary: str, name: str, *, params: list[dict[str, Any]] | None = None,
               body: dict[str, Any] | None = None,
               ok: str = "200", errors: tuple[int, ...] = (400, 404)) -> dict[str, Any]:
    fmt = {"name": "fmt", "in": "path", "required": True, "schema": {"type": "string", "enum": ["json", "xml"]}}
    content: dict[str, Any] = {"application/json": {"schema": {}}, "text/xml": {"schema": {}}}
    operation: dict[str, Any] = {
        "summary": summary, "tags": ["open311"], "operationId": f"open311_{name}",
        "parameters": [fmt, *(params or [])],
        "responses": {ok: {"description": summary, "content": content},
                      **{str(c): {"description": "Open311 errors: [{code, description}] or <errors>",
                                  "content": content} for c in errors}},
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def _param(name: str, where: str = "query", description: str = "", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": {"type": "string"}}


_JURISDICTION = _param("jurisdiction_id", description="optional; when given it must be this endpoint's")
_POST_FORM = {"content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["service_code"],
    "properties": {name: {"type": "string"} for name in (
        "api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "address_id", "email",
        "device_id", "account_id", "first_name", "last_name", "phone", "description", "media_url")},
    "description": "api_key here or in the query string (not two different ones: 400); lat+long (WGS84) or "
                   "address_string is required; attribute[CODE]=VALUE per the service definition. Header "
                   "Idempotency-Key makes a retry return the first answer."}}}}
_API_KEY = _param("api_key", description="the client's key, here or in the form body (not two different ones: 400); "
                                         "403 when missing, unknown, revoked or not an Open311 client's")

_REQUEST_FILTERS = [_param("service_request_id", description="comma-separated; overrides the rest"),
                    _param("service_code", description="comma-separated"),
                    _param("start_date", description="W3C date-time"), _param("end_date", description="W3C date-time"),
                    _param("status", description="open, closed or both"), _JURISDICTION]

# In match order: the catch-all last, so that anything else under /open311/v2/ is an Open311 404.
ROUTES = [
    Route("GET", f"{ROOT}/discovery.{{fmt}}", endpoint(discovery),
          _operation("Open311 service discovery", "discovery", params=[_JURISDICTION])),
    Route("GET", f"{ROOT}/services.{{fmt}}", endpoint(list_services),
          _operation("Open311 services: the leaf categories", "services", params=[_JURISDICTION])),
    Route("GET", f"{ROOT}/services/{{service_code}}.{{fmt}}", endpoint(service_definition),
          _operation("Open311 service definition (attributes)", "service_definition",
                     params=[_param("service_code", "path"), _JURISDICTION])),
    Route("GET", f"{ROOT}/requests.{{fmt}}", endpoint(list_requests),
          _operation("Open311 requests: newest first, requests submitted through Open311 only, public fields "
                     "(no reporter details)", "requests", params=_REQUEST_FILTERS)),
    Route("POST", f"{ROOT}/requests.{{fmt}}", endpoint(create_request),
          _operation("Open311: submit a request (creates a case); 503 when the hub is full or the store does "
                     "not answer (the description starts with `overloaded` or `store_unavailable`; Retry-After)",
                     "create_request", params=[_API_KEY], body=_POST_FORM, ok="201",
                     errors=(400, 403, 404, 503))),
    Route("GET", f"{ROOT}/requests/{{service_request_id}}.{{fmt}}", endpoint(get_request),
          _operation("Open311: one request submitted through Open311", "request",
                     params=[_param("service_request_id", "path"), _JURISDICTION])),
    Route("GET", f"{ROOT}/tokens/{{token}}.{{fmt}}", endpoint(get_token),
          _operation("Open311: the request id of a token", "token", params=[_param("token", "path"), _JURISDICTION])),
    Route("*", f"{ROOT}/{{tail:.*}}", not_found),
]
