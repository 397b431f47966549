"""GET /api/v1/kpis and /api/v1/kpis.csv: PRODUCT.md section 7, clipped to the caller's jurisdiction."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field, model_validator

from dispatch.inputs import HubDate, InputModel
from dispatch.kpi import rank_rows
from geo.areas import code_within
from hub.api.errors import json_response
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, query
from hub.identity.access import USER_ROLES, Principal, clip_scopes
from hub.keys import CLOCK, KPIS, SETTINGS
from hub.services.kpis import CHINA, Period

COLUMNS = (
    "period", "level", "code", "name", "dispatched", "returns", "return_rate", "redos", "redo_rate",
    "valid_callbacks", "response_rate", "resolution_rate", "satisfaction_rate", "composite",
    "on_time_sign_rate", "on_time_resolution_rate", "overdue", "mean_hours_to_sign", "mean_hours_to_resolve",
)


class KpiQuery(InputModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    level: str | None = Field(default=None, pattern="^(unit|township|county|city)$")
    period: Period = "month"
    # Within the hub's range: `to=0001-01-01` minus the default year would overflow.
    start: HubDate | None = Field(default=None, alias="from")
    end: HubDate | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _order(self) -> KpiQuery:
        if self.start and self.end and self.start > self.end:
            raise ValueError("`from` must not be after `to`")
        return self


def _area_of(row: dict[str, Any]) -> str:
    # Units are coded "<area code>-<suffix>" (450103-cgj): their jurisdiction is the area part.
    return str(row["code"]).split("-", 1)[0]


def _visible(principal: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scopes = clip_scopes(principal, [])
    return [r for r in rows if any(code_within(_area_of(r), s) for s in scopes)]


async def _rows(request: web.Request) -> list[dict[str, Any]]:
    principal = await principal_of(request, *USER_ROLES)
    query = KpiQuery.model_validate(dict(request.query))
    now = request.app[CLOCK].now()
    today = now.astimezone(CHINA).date()
    end = query.end or today
    start = query.start or end - timedelta(days=365)
    rows = await request.app[KPIS].rows(level=query.level, period=query.period, start=start, end=end, as_of=now)
    visible = _visible(principal, rows)
    # Ranked among the rows the caller sees (a county's townships for its dispatcher).
    rank_rows(visible, request.app[SETTINGS].kpi_min_samples)
    return visible


async def kpis(request: web.Request) -> web.Response:
    rows = await _rows(request)
    return json_response({"as_of": request.app[CLOCK].now().isoformat(),
                          "min_samples": request.app[SETTINGS].kpi_min_samples, "rows": rows})


async def kpis_csv(request: web.Request) -> web.Response:
    rows = await _rows(request)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    # A BOM so that Excel (what most 考核 offices open it with) reads the Chinese names correctly.
    return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv",
                        charset="utf-8", headers={"Content-Disposition": 'attachment; filename="kpis.csv"'})


ROUTES = [
    Route("GET", "/api/v1/kpis", kpis, {
        "operationId": "get_kpis",
        "summary": ("KPIs per unit, township, county, city and period; each row's `samples` (n behind each rate)"
                    " and `rank` (null below `min_samples` valid callbacks)"), "security": [{"bearer": []}],
        "parameters": query(KpiQuery), "responses": {"200": {"description": "rows"}, **errors(401, 422)}}),
    Route("GET", "/api/v1/kpis.csv", kpis_csv, {
        "operationId": "get_kpis_csv",
        "summary": "the same as CSV", "security": [{"bearer": []}], "parameters": query(KpiQuery),
        "responses": {"200": {"description": "text/csv"}, **errors(401, 422)}}),
]
