"""The duty roster (值班) over HTTP: GET /api/v1/duty (who is on duty on a day, in the caller's jurisdiction),
PUT /api/v1/duty/{unit} (put an officer on a day's roster), DELETE /api/v1/duty/{unit} (take them off),
GET /api/v1/duty/{unit}/changes (who changed it when).

Who reads: every staff role, clipped to its jurisdiction — the city's roles every unit, a county dispatcher the
units of its county (its government, bureaus and townships), a township handler or grid worker its township's.
Who sets: admin and city operator for every unit, a county dispatcher for the units of its county (PRODUCT.md:
"same as the city, limited to their county"; it runs the county's command centre, which keeps the county's
roster). A unit outside the setter's jurisdiction is answered 404, as a case they cannot see; a code no unit
has, 422 naming `unit`. Phone numbers are masked unless `sees_duty_phone`, and unmasked reads are audited.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from aiohttp import web
from pydantic import ConfigDict, Field, TypeAdapter

from dispatch.case import Case
from dispatch.inputs import AreaCode, HubDate, InputModel, Text
from geo.areas import LEVELS, code_within
from hub.api.audit import record_duty_read
from hub.api.errors import ApiError, json_response, path_param, read_json
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, json_body, query
from hub.identity.access import USER_ROLES, Principal, mask_phone, sees_duty_phone
from hub.keys import CLOCK, DUTY, LOCATOR
from hub.services.duty import SHIFT_MAX, DutyAssignment, UnitInfo, today

SETTERS: Final = ("admin", "city_operator", "county_dispatcher")
UNIT_CODE = TypeAdapter(Text)
# The levels the roster lists by default: the command centre's 今日值班 shows every county and township.
DEFAULT_LEVELS: Final = ("county", "township")


class DutyQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    date: HubDate | None = Field(default=None, description="the local day; default today (Asia/Shanghai)")
    level: str | None = Field(default=None, pattern="^(" + "|".join(LEVELS) + ")$",
                              description="only units of this level; default: counties and townships (and any "
                                          "other unit with an officer on the day)")
    parent: AreaCode | None = Field(default=None, description="only units inside this area")


class DutyClear(InputModel):
    model_config = ConfigDict(extra="forbid")
    date: HubDate
    shift: str | None = Field(default=None, max_length=SHIFT_MAX, description="one shift; default all that day")


def _unit_of(request: web.Request, principal: Principal) -> UnitInfo:
    """The {unit} of the path: a unit the matrix knows (else 422 naming `unit`), inside the caller's jurisdiction
    (else 404, as a case they cannot see)."""
    code = path_param(request, "unit", UNIT_CODE)
    unit = request.app[DUTY].unit(code) if len(code) <= 64 else None
    if unit is None:
        raise ApiError(422, "validation_failed", "unit: no such unit",
                       [{"field": "unit", "message": f"{code[:64]!r} is no unit of the responsibility matrix "
                                                     "(e.g. 450103-gov, 450103-cgj, 450103001-gov)"}])
    if principal.area is None or not code_within(unit.area, principal.area):
        raise ApiError(404, "not_found", "no such unit in your jurisdiction")
    return unit


def shown(principal: Principal, unit: str, officer: dict[str, Any]) -> dict[str, Any]:
    """An officer as `principal` may see them: the phone masked unless `sees_duty_phone`."""
    return officer if sees_duty_phone(principal, unit) else {**officer, "phone": mask_phone(officer["phone"])}


def _areas(request: web.Request, home: str, level: str | None, parent: str | None) -> list[dict[str, Any]]:
    """The counties and townships (or `level`'s areas) inside both the caller's jurisdiction and `parent`."""
    locator = request.app[LOCATOR]
    out = []
    for lv in (level,) if level else DEFAULT_LEVELS:
        if lv == "city":
            continue
        for area in locator.children(None, lv):
            if code_within(area["code"], home) and (parent is None or code_within(area["code"], parent)):
                out.append(area)
    return out


async def case_duty_officer(request: web.Request, principal: Principal, case: Case) -> dict[str, Any] | None:
    """The duty officer of a case's lead unit now, as `principal` may see them ({unit: {code, name}, name, phone,
    shift, …}), or None; an unmasked phone is recorded in the access audit with the case."""
    lead = (case.get("units") or {}).get("lead")
    if not isinstance(lead, dict) or not isinstance(lead.get("code"), str):
        return None
    code: str = lead["code"]
    officer = await request.app[DUTY].duty_officer(code, request.app[CLOCK].now())
    if officer is None:
        return None
    if sees_duty_phone(principal, code):
        await record_duty_read(request, principal, [code], case)
    return {"unit": {"code": code, "name": lead.get("name") or code}, **shown(principal, code, officer)}


async def list_duty(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    q = DutyQuery.model_validate(dict(request.query))
    day: date = q.date or today(request.app[CLOCK].now())
    home = principal.area
    if home is None:
        return json_response({"date": day.isoformat(), "units": []})
    roster = request.app[DUTY]
    entries = await roster.on_day(day, [home])
    if q.parent is not None:
        entries = [e for e in entries if code_within(e["unit"].partition("-")[0], q.parent)]
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_unit.setdefault(entry["unit"], []).append(entry)
    units: list[dict[str, Any]] = []
    listed: set[str] = set()
    for area in _areas(request, home, q.level, q.parent):  # every area's government, on the roster or not
        code = f"{area['code']}-gov"
        info = roster.unit(code)
        units.append({"code": code, "name": info.name if info else f"{area['name']}人民政府", "level": area["level"],
                      "area": {"code": area["code"], "name": area["name"], "parent_code": area["parent_code"]},
                      "officers": by_unit.get(code, [])})
        listed.add(code)
    for code, officers in by_unit.items():  # bureaus, command centres, city units with an officer that day
        info = roster.unit(code)
        if code in listed or info is None or (q.level is not None and info.level != q.level):
            continue
        units.append({"code": code, "name": info.name, "level": info.level, "area": {"code": info.area},
                      "officers": officers})
    unmasked = [u["code"] for u in units if u["officers"] and sees_duty_phone(principal, u["code"])]
    for unit in units:
        unit["officers"] = [shown(principal, unit["code"], o) for o in unit["officers"]]
    await record_duty_read(request, principal, unmasked)
    return json_response({"date": day.isoformat(), "units": units})


async def set_duty(request: web.Request) -> web.Response:
    principal = await principal_of(request, *SETTERS)
    unit = _unit_of(request, principal)
    body = DutyAssignment.model_validate(await read_json(request))
    entry = await request.app[DUTY].set(unit.code, body, f"{principal.role}:{principal.name}")
    # The setter typed the number: it goes back to them as it is (nothing is revealed, nothing to audit).
    return json_response({"unit": {"code": unit.code, "name": unit.name, "level": unit.level}, "officer": entry})


async def clear_duty(request: web.Request) -> web.Response:
    principal = await principal_of(request, *SETTERS)
    unit = _unit_of(request, principal)
    q = DutyClear.model_validate(dict(request.query))
    cleared = await request.app[DUTY].clear(unit.code, q.date, q.shift, f"{principal.role}:{principal.name}")
    return json_response({"unit": {"code": unit.code, "name": unit.name, "level": unit.level}, "cleared": cleared})


async def duty_changes(request: web.Request) -> web.Response:
    """Who changed a unit's roster, when, from what to what: the change log, newest first."""
    principal = await principal_of(request, *SETTERS, "auditor")
    unit = _unit_of(request, principal)
    changes = await request.app[DUTY].changes(unit.code)
    if sees_duty_phone(principal, unit.code):
        if any(c["before"] or c["after"] for c in changes):
            await record_duty_read(request, principal, [unit.code])
    else:
        for change in changes:
            for side in ("before", "after"):
                if change[side]:
                    change[side] = shown(principal, unit.code, change[side])
    return json_response({"unit": {"code": unit.code, "name": unit.name, "level": unit.level}, "changes": changes})


_UNIT_PARAM: dict[str, Any] = {"name": "unit", "in": "path", "required": True,
                               "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                               "description": "a responsibility-matrix unit code: 450103-gov, 450103-cgj, "
                                              "450103001-gov, 450100-zhzx"}
_OFFICER: dict[str, Any] = {"type": "object", "properties": {
    "unit": {"type": "string"}, "date": {"type": "string", "format": "date"}, "shift": {"type": "string"},
    "starts": {"type": ["string", "null"]}, "ends": {"type": ["string", "null"]}, "name": {"type": "string"},
    "phone": {"type": "string"}, "note": {"type": ["string", "null"]}, "set_by": {"type": "string"},
    "set_at": {"type": "string", "format": "date-time"}},
    "required": ["unit", "date", "shift", "starts", "ends", "name", "phone", "note", "set_by", "set_at"]}
_UNIT_REF: dict[str, Any] = {"type": "object", "properties": {
    "code": {"type": "string"}, "name": {"type": "string"}, "level": {"type": "string"}},
    "required": ["code", "name", "level"]}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


ROUTES = [
    Route("GET", "/api/v1/duty", list_duty, {
        "operationId": "list_duty",
        "summary": "who is on duty (值班) on a day in the caller's jurisdiction: each county's and township's "
                   "government (`officers` empty: 未排班) and every other unit with an officer that day; phones "
                   "masked except for the staff who must call them (unmasked reads are audited)",
        "security": [{"bearer": []}], "parameters": query(DutyQuery),
        "responses": {"200": {"description": "the day's roster", **_json({
            "type": "object", "properties": {
                "date": {"type": "string", "format": "date"},
                "units": {"type": "array", "items": {"type": "object", "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"}, "level": {"type": "string"},
                    "area": {"type": "object"}, "officers": {"type": "array", "items": _OFFICER}},
                    "required": ["code", "name", "level", "area", "officers"]}}},
            "required": ["date", "units"]})},
            **errors(401, 403, 422)}}),
    Route("PUT", "/api/v1/duty/{unit}", set_duty, {
        "operationId": "set_duty",
        "summary": "put an officer on a unit's roster for a day (one per shift; the same shift is replaced); "
                   "admin and city operator, a county dispatcher within its county; logged with who and when",
        "security": [{"bearer": []}], "parameters": [_UNIT_PARAM], "requestBody": json_body(DutyAssignment),
        "responses": {"200": {"description": "the entry as stored", **_json({
            "type": "object", "properties": {"unit": _UNIT_REF, "officer": _OFFICER},
            "required": ["unit", "officer"]})},
            **errors(400, 401, 403, 404, 422)}}),
    Route("GET", "/api/v1/duty/{unit}/changes", duty_changes, {
        "operationId": "list_duty_changes",
        "summary": "the unit's roster changes, newest first: who set or cleared which day's shift when, the entry "
                   "before and after (admin, city operator, auditor; a county dispatcher within its county)",
        "security": [{"bearer": []}], "parameters": [_UNIT_PARAM],
        "responses": {"200": {"description": "the change log", **_json({
            "type": "object", "properties": {"unit": _UNIT_REF, "changes": {"type": "array", "items": {
                "type": "object", "properties": {
                    "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                    "by": {"type": "string"}, "action": {"enum": ["set", "clear"]},
                    "date": {"type": "string", "format": "date"}, "shift": {"type": "string"},
                    "before": {"type": ["object", "null"]}, "after": {"type": ["object", "null"]}},
                "required": ["id", "at", "by", "action", "date", "shift", "before", "after"]}}},
            "required": ["unit", "changes"]})},
            **errors(401, 403, 404, 422)}}),
    Route("DELETE", "/api/v1/duty/{unit}", clear_duty, {
        "operationId": "clear_duty",
        "summary": "take a unit's officers of a day (or one shift) off the roster; logged with who and when",
        "security": [{"bearer": []}], "parameters": [_UNIT_PARAM, *query(DutyClear)],
        "responses": {"200": {"description": "how many entries were cleared", **_json({
            "type": "object", "properties": {"unit": _UNIT_REF, "cleared": {"type": "integer"}},
            "required": ["unit", "cleared"]})},
            **errors(401, 403, 404, 422)}}),
]
