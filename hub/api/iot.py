"""IoT over HTTP (the twin of the MQTT topic), the device registry, and the operators' quarantine."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from connectors.iot import AlarmMessage, BadMessage, DeviceId, DeviceRegistration
from dispatch.inputs import BigintId, InputModel
from hub.api.errors import ApiError, json_response, path_param, read_json
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, json_body, query
from hub.keys import ADMISSION, DEVICES, IOT, METRICS, QUARANTINE, SETTINGS
from hub.services.iot.devices import mqtt_credentials
from hub.services.iot.readings import UnknownDevice
from hub.services.quarantine import QuarantineItemNotFound, ReplayFailed

# Who manages devices and the quarantine: the city's operators; auditors may read.
MANAGERS = ("admin", "city_operator")
READERS = (*MANAGERS, "auditor")
# Path parameters: a device id as devices are registered; a quarantine item id within bigint.
DEVICE_ID = TypeAdapter(DeviceId)
ITEM_ID = TypeAdapter(BigintId)


class DeviceQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    kind: str | None = Field(default=None, max_length=32)
    after: str = Field(default="", max_length=64)
    limit: int = Field(default=100, ge=1, le=1000)


class QuarantineQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    channel: str | None = Field(default=None, max_length=32)
    state: str | None = Field(default="held", pattern="^(held|replayed|discarded|all)$")
    after: BigintId = 0
    limit: int = Field(default=100, ge=1, le=1000)


async def post_alarm(request: web.Request) -> web.Response:
    """One reading over HTTP: the caller is there to be told what is wrong, so bad input is a 4xx, not
    quarantine. 202 when something was recorded, 200 when it was a repeat or changed nothing."""
    admission = request.app[ADMISSION]
    async with admission.deadline():
        await principal_of(request, "iot")
    try:
        with admission.slots(1):
            message = AlarmMessage.model_validate(await read_json(request))
            outcome = await admission.within(request.app[IOT].handle(message, actor=f"iot:{message.device_id}"))
    except UnknownDevice as exc:
        raise ApiError(422, "unknown_device", str(exc),
                       [{"field": "device_id", "message": "not in the device registry"}]) from None
    except BadMessage as exc:
        raise ApiError(422, "validation_failed", str(exc), [{"field": "kind", "message": str(exc)}]) from None
    request.app[METRICS].ingested("iot", duplicate=outcome.duplicate)
    written = outcome.action != "ignored" and not outcome.duplicate
    return json_response(outcome.as_json(), status=202 if written else 200)


async def add_device(request: web.Request) -> web.Response:
    """Register (or move) a device. A new device gets its MQTT account here, as with `cityloop devices add`:
    the password is in this answer only (`mqtt`), the registry keeps its hash; a move keeps the account."""
    await principal_of(request, *MANAGERS)
    registration = DeviceRegistration.model_validate(await read_json(request))
    device = await request.app[DEVICES].add(registration)
    try:  # a new device only: a move (or a repeat) keeps the account it has
        password = await request.app[DEVICES].issue_credentials(registration.device_id, only_if_none=True)
    except ValueError as exc:  # an id Mosquitto cannot take as a username: HTTP only, and the answer says so
        return json_response({**device, "mqtt": None, "mqtt_refused": str(exc)}, status=201)
    if password is None:
        return json_response(device, status=201)
    await _refresh_broker(request)
    device = await request.app[DEVICES].get(registration.device_id) or device
    return json_response({**device, "mqtt": mqtt_credentials(registration.device_id, password)},
                         status=201)


async def rotate_credentials(request: web.Request) -> web.Response:
    """A new MQTT password for a device (lost, leaked, or the installer changed): shown in this answer only;
    the old one stops working when the broker reloads its files."""
    await principal_of(request, *MANAGERS)
    device_id = path_param(request, "device_id", DEVICE_ID)
    if await request.app[DEVICES].get(device_id) is None:
        raise ApiError(404, "not_found", "no such device")
    try:
        password = await request.app[DEVICES].issue_credentials(device_id)
    except ValueError as exc:
        raise ApiError(422, "no_mqtt_account", str(exc),
                       [{"field": "device_id", "message": "cannot be an MQTT username"}]) from None
    assert password is not None
    await _refresh_broker(request)
    return json_response({"device_id": device_id, "mqtt": mqtt_credentials(device_id, password)}, status=201)


async def _refresh_broker(request: web.Request) -> None:
    """Rewrite the broker's files when this hub keeps them (CITYLOOP_MQTT_BROKER_DIR); the broker reloads
    on SIGHUP (deploy/mosquitto/start.sh watches them). Without the folder the operator runs
    `cityloop devices broker-config`."""
    settings = request.app[SETTINGS]
    if settings.mqtt_broker_dir is not None:
        await request.app[DEVICES].write_broker_config(settings.mqtt_url, settings.mqtt_broker_dir)


async def list_devices(request: web.Request) -> web.Response:
    await principal_of(request, *READERS)
    query = DeviceQuery.model_validate(dict(request.query))
    devices = await request.app[DEVICES].list(query.kind, query.after, query.limit)
    next_after = devices[-1]["device_id"] if len(devices) == query.limit else None
    return json_response({"devices": devices, "next_after": next_after})


async def get_device(request: web.Request) -> web.Response:
    await principal_of(request, *READERS)
    device = await request.app[DEVICES].get(path_param(request, "device_id", DEVICE_ID))
    if device is None:
        raise ApiError(404, "not_found", "no such device")
    return json_response(device)


async def list_quarantine(request: web.Request) -> web.Response:
    await principal_of(request, *READERS)
    query = QuarantineQuery.model_validate(dict(request.query))
    state = None if query.state == "all" else query.state
    items = await request.app[QUARANTINE].list(query.channel, state, query.after, query.limit)
    next_after = items[-1]["id"] if len(items) == query.limit else None
    return json_response({"items": items, "next_after": next_after})


def _item_id(request: web.Request) -> int:
    return path_param(request, "item_id", ITEM_ID)


async def replay_item(request: web.Request) -> web.Response:
    """Run a held item through its channel again (after registering the device, fixing the receiver...)."""
    await principal_of(request, *MANAGERS)
    try:
        resolution = await request.app[QUARANTINE].replay(_item_id(request))
    except QuarantineItemNotFound:
        raise ApiError(404, "not_found", "no such quarantine item") from None
    except ReplayFailed as exc:
        raise ApiError(422, "replay_failed", str(exc)) from None
    return json_response({"id": _item_id(request), "state": "replayed", "resolution": resolution})


async def discard_item(request: web.Request) -> web.Response:
    principal = await principal_of(request, *MANAGERS)
    item_id = _item_id(request)
    row = await request.app[QUARANTINE].get(item_id)
    if row is None:
        raise ApiError(404, "not_found", "no such quarantine item")
    if row["state"] != "held":
        raise ApiError(409, "not_held", f"the item is {row['state']}")
    await request.app[QUARANTINE].settle(item_id, "discarded", {"by": principal.name})
    return json_response({"id": item_id, "state": "discarded"})


OPENAPI_MODELS: list[type[BaseModel]] = [AlarmMessage, DeviceRegistration]

_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_ITEM_ID = [{"name": "item_id", "in": "path", "required": True, "schema": ITEM_ID.json_schema()}]
ROUTES = [
    Route("POST", "/api/v1/iot/alarms", post_alarm, {
        "operationId": "post_iot_alarm",
        "summary": "one IoT reading (the HTTP twin of MQTT cityloop/iot/{device_id}/alarm)",
        "security": [{"apiKey": []}], "requestBody": json_body(AlarmMessage),
        "responses": {"202": {"description": "recorded: opened/attached/recovered"},
                      "200": {"description": "a repeat (same device_id + seq) or nothing to record"},
                      **errors(401, 403, 422, 503)}}),
    Route("GET", "/api/v1/devices", list_devices, {
        "operationId": "list_devices",
        "summary": "the device registry", "security": _BEARER, "parameters": query(DeviceQuery),
        "responses": {"200": {"description": "devices and next_after"}, **errors(401, 403, 422)}}),
    Route("POST", "/api/v1/devices", add_device, {
        "operationId": "register_device",
        "summary": "register (or move) a device; a new device's MQTT account is in `mqtt`, shown once",
        "security": _BEARER, "requestBody": json_body(DeviceRegistration),
        "responses": {"201": {"description": "the device; for a new device also mqtt {username, password, topic} "
                                             "(null with mqtt_refused when its id cannot be an MQTT username)"},
                      **errors(401, 403, 422)}}),
    Route("POST", "/api/v1/devices/{device_id}/credentials", rotate_credentials, {
        "operationId": "rotate_device_credentials",
        "summary": "a new MQTT password for a device, shown once (the old one ends when the broker reloads)",
        "security": _BEARER,
        "parameters": [{"name": "device_id", "in": "path", "required": True, "schema": DEVICE_ID.json_schema()}],
        "responses": {"201": {"description": "device_id and mqtt {username, password, topic}"},
                      **errors(401, 403, 404, 422)}}),
    Route("GET", "/api/v1/devices/{device_id}", get_device, {
        "operationId": "get_device",
        "summary": "one device", "security": _BEARER,
        "parameters": [{"name": "device_id", "in": "path", "required": True, "schema": DEVICE_ID.json_schema()}],
        "responses": {"200": {"description": "the device"}, **errors(401, 403, 404, 422)}}),
    Route("GET", "/api/v1/quarantine", list_quarantine, {
        "operationId": "list_quarantine",
        "summary": "input that could not be processed, with the reason", "security": _BEARER,
        "parameters": query(QuarantineQuery),
        "responses": {"200": {"description": "items and next_after; an item's payload is the first 64 KB of "
                                             "what arrived, with payload_size and payload_sha256 of the whole "
                                             "and payload_truncated (a truncated item cannot be replayed)"},
                      **errors(401, 403, 422)}}),
    Route("POST", "/api/v1/quarantine/{item_id}/replay", replay_item, {
        "operationId": "replay_quarantine_item",
        "summary": "process a held item again", "security": _BEARER, "parameters": _ITEM_ID,
        "responses": {"200": {"description": "replayed"}, **errors(401, 403, 404, 422)}}),
    Route("POST", "/api/v1/quarantine/{item_id}/discard", discard_item, {
        "operationId": "discard_quarantine_item",
        "summary": "drop a held item (kept, marked discarded)", "security": _BEARER, "parameters": _ITEM_ID,
        "responses": {"200": {"description": "discarded"}, **errors(401, 403, 404, 409, 422)}}),
]
