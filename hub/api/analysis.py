"""GET /api/v1/analysis/{volumes,funnel,returns,repeats,trend} (研判分析, issue 17), each also as CSV and XLSX
(`?format=csv|xlsx`, or the `.csv`/`.xlsx` path). Clipped to the caller's jurisdiction: `area` narrows it (an
area outside it is 403 naming the field; one above it means the whole jurisdiction, as for the cases list).

The numbers come from hub.services.analysis (grouped SQL); this module validates, clips, names areas and
categories, and lays the grouped rows out as answers and export tables.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any, Final, Literal, TypeVar

from aiohttp import web
from pydantic import ConfigDict, Field

from dispatch.codes import LEVELS, level_of
from dispatch.inputs import AreaCode, HubDate, InputModel
from hub.api.errors import ApiError, json_response
from hub.api.exports import Lang, Table, export_response
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, query
from hub.identity.access import USER_ROLES, clip_scopes
from hub.keys import ANALYSIS, CLOCK, LOCATOR, POLICY
from hub.services.analysis import STAGES, STEPS, Dimension, Place, Span
from hub.services.forecast import forecast
from hub.services.kpis import CHINA, Period
from hub.services.repeats import candidates

Source = Literal["hotline", "open311", "iot", "grid", "reopen"]
DIMENSIONS: Final = ("source", "category", "area")
# The longest range one request may cover, by what it groups (days): enough for a year-on-year view, and a
# bound on the work and the size of the answer.
MAX_SPAN_DAYS: Final = {"day": 366, "week": 731, "month": 731, "default": 731, "repeats": 366}
DEFAULT_DAYS: Final = 30
TREND_DEFAULT_DAYS: Final = 90
_PERIOD_LABEL: Final = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}


class AnalysisQuery(InputModel):
    """What every analysis takes: the range (local dates, both included), where, which problems, and the
    export's format, language and (for CSV) table."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: HubDate | None = Field(default=None, alias="from", description="first day (default: 30 days to `to`)")
    end: HubDate | None = Field(default=None, alias="to", description="last day, included (default: today)")
    area: AreaCode | None = Field(default=None, description="an area inside the caller's jurisdiction")
    category: str | None = Field(default=None, pattern="^[0-9A-Za-z_]{1,32}$",
                                 description="a category code of any level of the tree (its leaves)")
    source: Source | None = None
    format: Literal["json", "csv", "xlsx"] = "json"
    lang: Lang = Field(default="zh", description="the export's headers and coded values: zh or en")
    sheet: str | None = Field(default=None, pattern="^[a-z_]{1,16}$",
                              description="CSV only: which table (default the first)")


class VolumeQuery(AnalysisQuery):
    period: Period = "day"
    by: str = Field(default="area", pattern="^(source|category|area)(,(source|category|area)){0,2}$",
                    description="comma-separated dimensions to count by: source, category, area")
    level: Literal["county", "township", "community", "grid"] | None = Field(
        default=None, description="the area level to count by (default: the level below `area`)")
    category_level: int = Field(default=1, ge=1, le=3, description="1 大类, 2 中类, 3 小类")


class FunnelQuery(AnalysisQuery):
    pass


class ReturnsQuery(AnalysisQuery):
    pass


class RepeatQuery(AnalysisQuery):
    days: int = Field(default=30, ge=1, le=92, description="at most this many days between two reports")
    radius_m: float = Field(default=100.0, ge=10.0, le=2000.0, description="same place: within this distance")
    min_reports: int = Field(default=2, ge=2, le=100)
    limit: int = Field(default=100, ge=1, le=500)


class TrendQuery(AnalysisQuery):
    horizon: int = Field(default=14, ge=7, le=14, description="days to forecast")
    confidence: float = Field(default=0.8, ge=0.5, le=0.99, description="the prediction interval's level")


Q = TypeVar("Q", bound=AnalysisQuery)


def _field_error(field: str, message: str, status: int = 422) -> ApiError:
    code = "validation_failed" if status == 422 else "forbidden"
    return ApiError(status, code, message, [{"field": field, "message": message}])


def _today(request: web.Request) -> date:
    return request.app[CLOCK].now().astimezone(CHINA).date()


def _range(request: web.Request, q: AnalysisQuery, default_days: int, max_days: int) -> tuple[date, date]:
    end = q.end or _today(request)
    start = q.start or end - timedelta(days=default_days - 1)
    if start > end:
        raise _field_error("from", "`from` must not be after `to`")
    if (end - start).days + 1 > max_days:
        raise _field_error("from", f"the range may cover at most {max_days} days")
    return start, end


async def _place(request: web.Request, q: AnalysisQuery) -> Place:
    principal = await principal_of(request, *USER_ROLES)
    scopes = clip_scopes(principal, [q.area] if q.area else [])
    if len(scopes) != 1:
        raise _field_error("area", "outside your jurisdiction", 403)
    return Place(next(iter(scopes)), q.category, q.source)


def _area_name(request: web.Request, code: str | None) -> str | None:
    if code is None:
        return None
    return request.app[LOCATOR].area_chain(code).get(level_of(code), {}).get("name")


def _category_name(request: web.Request, code: str | None, lang: Lang = "zh") -> str | None:
    matrix = request.app[POLICY].matrix
    if code is None or matrix is None or not matrix.knows(code):
        return None
    node = matrix.path(code)[-1]
    return node.name_en or node.name if lang == "en" else node.name


def _change(count: int, previous: int) -> dict[str, Any]:
    pct = round(100.0 * (count - previous) / previous, 1) if previous else None
    return {"count": count, "previous": previous, "change": count - previous, "change_pct": pct}


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None or math.isnan(seconds) else round(seconds / 3600.0, 2)


# ---- volumes ---------------------------------------------------------------------------------------------

async def volumes(request: web.Request, q: VolumeQuery) -> tuple[dict[str, Any], list[Table]]:
    place = await _place(request, q)
    period = q.period
    first, last = _range(request, q, DEFAULT_DAYS, MAX_SPAN_DAYS[period])
    level = q.level or _child_level(place.level)
    if LEVELS.index(level) < LEVELS.index(place.level):
        raise _field_error("level", f"`{level}` is above the area's level ({place.level}): use a deeper level")
    by: tuple[Dimension, ...] = tuple(d for d in DIMENSIONS if d in q.by.split(","))  # type: ignore[misc]
    span = Span.of(first, last, period)
    before = span.before(period)
    records = await request.app[ANALYSIS].volumes(place, Span(before.start, span.end), period, by, level,
                                                  q.category_level)
    current = span.buckets(period)
    in_span = set(current)
    every = [*before.buckets(period), *current]
    following = dict(zip(every, every[1:], strict=False))
    preceding = {b: a for a, b in following.items()}
    counts: dict[tuple[date, tuple[Any, ...]], int] = {}
    for r in records:
        counts[(r["bucket"], tuple(r[d] for d in by))] = r["n"]
    names = _Names(request, q.lang)
    rows = []
    totals: dict[tuple[Any, ...], list[int]] = {}
    for (bucket, key), n in counts.items():
        total = totals.setdefault(key, [0, 0])
        total[0 if bucket in in_span else 1] += n
        if bucket in in_span:
            previous = counts.get((preceding[bucket], key), 0) if bucket in preceding else 0
            rows.append(_volume_row(bucket, key, by, n, previous, period, names))
        nxt = following.get(bucket)
        if nxt is not None and nxt in in_span and (nxt, key) not in counts:  # none this period, some the period before
            rows.append(_volume_row(nxt, key, by, 0, n, period, names))
    rows.sort(key=lambda r: (r["period"], -r["count"], *(str(r.get(c)) for c in _flat_columns(by))))
    total_rows = [{**_flat(key, by, names), **_change(cur, prev)} for key, (cur, prev) in totals.items()]
    total_rows.sort(key=lambda r: (-r["count"], -r["previous"]))
    grand = _change(sum(c for c, _ in totals.values()), sum(p for _, p in totals.values()))
    body = {"period": period, "from": span.start.isoformat(), "to": (span.end - timedelta(days=1)).isoformat(),
            "previous_from": before.start.isoformat(), "previous_to": (before.end - timedelta(days=1)).isoformat(),
            "area": {"code": place.area, "level": place.level, "name": _area_name(request, place.area)},
            "level": level, "by": list(by), "category_level": q.category_level, "total": grand,
            "totals": total_rows, "rows": rows}
    columns = ("period", *_flat_columns(by), "count", "previous", "change", "change_pct")
    return body, [Table("rows", columns, rows), Table("totals", columns[1:], total_rows)]


def _child_level(level: str) -> str:
    return LEVELS[min(LEVELS.index(level) + 1, len(LEVELS) - 1)]


class _Names:
    """Area and category names, each looked up once per answer."""

    def __init__(self, request: web.Request, lang: Lang) -> None:
        self._request, self._lang = request, lang
        self._areas: dict[str | None, str | None] = {}
        self._categories: dict[str | None, str | None] = {}

    def area(self, code: str | None) -> str | None:
        if code not in self._areas:
            self._areas[code] = _area_name(self._request, code)
        return self._areas[code]

    def category(self, code: str | None) -> str | None:
        if code not in self._categories:
            self._categories[code] = _category_name(self._request, code, self._lang)
        return self._categories[code]


def _flat_columns(by: tuple[Dimension, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for d in by:
        out += ["source"] if d == "source" else [f"{d}_code", f"{d}_name"]
    return tuple(out)


def _flat(key: tuple[Any, ...], by: tuple[Dimension, ...], names: _Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d, value in zip(by, key, strict=True):
        if d == "source":
            out["source"] = value
        elif d == "category":
            out |= {"category_code": value, "category_name": names.category(value)}
        else:
            out |= {"area_code": value, "area_name": names.area(value)}
    return out


def _volume_row(bucket: date, key: tuple[Any, ...], by: tuple[Dimension, ...], n: int, previous: int,
                period: Period, names: _Names) -> dict[str, Any]:
    return {"period": bucket.strftime(_PERIOD_LABEL[period]), "period_start": bucket.isoformat(),
            **_flat(key, by, names), **_change(n, previous)}


# ---- funnel ----------------------------------------------------------------------------------------------

async def funnel(request: web.Request, q: FunnelQuery) -> tuple[dict[str, Any], list[Table]]:
    place = await _place(request, q)
    first, last = _range(request, q, DEFAULT_DAYS, MAX_SPAN_DAYS["default"])
    now = request.app[CLOCK].now()
    found = await request.app[ANALYSIS].funnel(place, first, last + timedelta(days=1), now)
    counts = found["stages"][0]
    received = counts["received"]
    stages = [{"stage": s, "cases": counts[s],
               "share": round(100.0 * counts[s] / received, 1) if received else None} for s in STAGES]
    steps = [{"step": r["step"], "unit_code": r["unit_code"], "unit_name": r["unit_name"], "n": r["n"],
              "p50_hours": _hours(r["p"][0]), "p90_hours": _hours(r["p"][1])} for r in found["steps"]]
    steps.sort(key=lambda r: (STEPS.index(r["step"]), r["unit_code"] is not None, -(r["p90_hours"] or 0)))
    slowest = sorted((r for r in steps if r["unit_code"] is not None), key=lambda r: -(r["p90_hours"] or 0))[:10]
    waiting = [{"step": r["step"], "unit_code": r["unit_code"], "unit_name": r["unit_name"], "cases": r["n"],
                "p50_hours": _hours(r["p"][0]), "p90_hours": _hours(r["p"][1]),
                "oldest_hours": _hours(r["oldest"]), "oldest_case_ids": [str(c) for c in r["oldest_cases"]],
                "oldest_tickets": [t for t in r["oldest_tickets"] if t]} for r in found["waiting"]]
    waiting.sort(key=lambda r: -(r["oldest_hours"] or 0))
    body = {"from": first.isoformat(), "to": last.isoformat(), "as_of": now.isoformat(),
            "area": {"code": place.area, "level": place.level, "name": _area_name(request, place.area)},
            "stages": stages, "steps": steps, "slowest": slowest, "waiting": waiting}
    return body, [
        Table("stages", ("stage", "cases", "share"), stages),
        Table("steps", ("step", "unit_code", "unit_name", "n", "p50_hours", "p90_hours"), steps),
        Table("waiting", ("step", "unit_code", "unit_name", "cases", "p50_hours", "p90_hours", "oldest_hours",
                          "oldest_tickets"), waiting)]


# ---- returns ---------------------------------------------------------------------------------------------

async def returns(request: web.Request, q: ReturnsQuery) -> tuple[dict[str, Any], list[Table]]:
    place = await _place(request, q)
    first, last = _range(request, q, DEFAULT_DAYS, MAX_SPAN_DAYS["default"])
    records = await request.app[ANALYSIS].returns(place, first, last + timedelta(days=1))
    rows = [{"kind": r["kind"], "reason": r["reason"], "unit_code": r["unit_code"], "unit_name": r["unit_name"],
             "count": r["n"], "cases": r["cases"]} for r in records]
    rows.sort(key=lambda r: (-r["count"], r["kind"], r["reason"] or "", r["unit_code"] or ""))
    reasons: dict[tuple[str, str], int] = {}
    units: dict[str | None, dict[str, Any]] = {}
    for r in rows:
        reasons[(r["kind"], r["reason"])] = reasons.get((r["kind"], r["reason"]), 0) + r["count"]
        unit = units.setdefault(r["unit_code"], {"unit_code": r["unit_code"], "unit_name": r["unit_name"],
                                                 "returns": 0, "redos": 0})
        unit["returns" if r["kind"] == "return" else "redos"] += r["count"]
    body = {"from": first.isoformat(), "to": last.isoformat(),
            "area": {"code": place.area, "level": place.level, "name": _area_name(request, place.area)},
            "reasons": [{"kind": k, "reason": why, "count": n}
                        for (k, why), n in sorted(reasons.items(), key=lambda i: -i[1])],
            "units": sorted(units.values(), key=lambda u: -(u["returns"] + u["redos"])), "rows": rows}
    return body, [Table("returns", ("kind", "reason", "unit_code", "unit_name", "count", "cases"), rows)]


# ---- repeats ---------------------------------------------------------------------------------------------

async def repeats(request: web.Request, q: RepeatQuery) -> tuple[dict[str, Any], list[Table]]:
    place = await _place(request, q)
    first, last = _range(request, q, q.days, MAX_SPAN_DAYS["repeats"])
    analysis = request.app[ANALYSIS]
    pairs = await analysis.repeat_pairs(place, first, last + timedelta(days=1), q.days, q.radius_m)
    found = await candidates(analysis, [(r["a"], r["b"]) for r in pairs], q.min_reports, q.limit)
    names = _Names(request, q.lang)
    for c in found:
        c["category_name"] = names.category(c["category_code"])
        c["area_name"] = names.area(c["area_code"])
    body = {"from": first.isoformat(), "to": last.isoformat(), "days": q.days, "radius_m": q.radius_m,
            "min_reports": q.min_reports,
            "area": {"code": place.area, "level": place.level, "name": _area_name(request, place.area)},
            "candidates": found}
    columns = ("category_code", "category_name", "area_code", "area_name", "address", "lng", "lat", "spread_m",
               "reports", "problems", "first_reported_at", "last_reported_at", "tickets")
    return body, [Table("repeats", columns, found)]


# ---- trend -----------------------------------------------------------------------------------------------

async def trend(request: web.Request, q: TrendQuery) -> tuple[dict[str, Any], list[Table]]:
    place = await _place(request, q)
    first, last = _range(request, q, TREND_DEFAULT_DAYS, MAX_SPAN_DAYS["day"])
    records = await request.app[ANALYSIS].daily(place, first, last + timedelta(days=1))
    by_day = {r["day"]: r["n"] for r in records}
    days = [{"day": (first + timedelta(days=i)).isoformat(), "count": by_day.get(first + timedelta(days=i), 0)}
            for i in range((last - first).days + 1)]
    # The series a forecast learns from starts at the first report: days before the hub (or the imported
    # history) began are not days without problems.
    start = next((i for i, d in enumerate(days) if d["count"]), len(days))
    series = [d["count"] for d in days[start:]]
    predicted = await asyncio.to_thread(forecast, first + timedelta(days=start), series, q.horizon, q.confidence)
    body = {"from": first.isoformat(), "to": last.isoformat(),
            "area": {"code": place.area, "level": place.level, "name": _area_name(request, place.area)},
            "days": days, "forecast": predicted}
    return body, [Table("trend", ("day", "count"), days),
                  Table("forecast", ("day", "mean", "lower", "upper"), predicted["days"])]


# ---- routes ----------------------------------------------------------------------------------------------

Compute = Callable[[web.Request, Any], Awaitable[tuple[dict[str, Any], list[Table]]]]


def _handler(model: type[AnalysisQuery], compute: Compute, name: str, fmt: str | None) -> Any:
    async def handle(request: web.Request) -> web.Response:
        q = model.model_validate(dict(request.query))
        body, tables = await compute(request, q)
        chosen = fmt or q.format
        if q.sheet is not None and q.sheet not in {t.key for t in tables}:
            raise _field_error("sheet", f"one of {', '.join(t.key for t in tables)}")
        if chosen == "json":
            return json_response(body)
        return export_response(tables, "csv" if chosen == "csv" else "xlsx", q.lang, f"analysis-{name}", q.sheet)
    return handle


_ENDPOINTS: Final[list[tuple[str, type[AnalysisQuery], Compute, str]]] = [
    ("volumes", VolumeQuery, volumes,
     "report counts by period and any of source × category (tree level) × area (level, drill-down by `area`), with "
     "each period's previous period and the previous equal range (period-over-period change)"),
    ("funnel", FunnelQuery, funnel,
     "the handling funnel received → dispatched → signed → resolved → evaluated → closed: cases at each stage, p50 "
     "and p90 hours of each step per unit, and the cases waiting now by step and unit (oldest first)"),
    ("returns", ReturnsQuery, returns, "returns (退回) by reason and redos (返工) by callback outcome, per unit"),
    ("repeats", RepeatQuery, repeats,
     "repeat complaints (同一地点同一问题): reports of one category within `radius_m` (or at one address) at most "
     "`days` apart, `min_reports` or more: candidates for 主动治理"),
    ("trend", TrendQuery, trend, "daily report counts with a forecast band (ETS, weekly season) for the next days"),
]
_FILE_RESPONSES: Final = {
    "csv": {"description": "text/csv (UTF-8 with BOM): one table", "content": {"text/csv": {}}},
    "xlsx": {"description": "an XLSX workbook, one sheet per table",
             "content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
}


def _routes() -> list[Route]:
    out = []
    for name, model, compute, summary in _ENDPOINTS:
        path = f"/api/v1/analysis/{name}"
        common = {"security": [{"bearer": []}], "parameters": query(model)}
        out.append(Route("GET", path, _handler(model, compute, name, None), {
            "operationId": f"get_analysis_{name}", "summary": summary + "; `format=csv|xlsx` downloads it", **common,
            "responses": {"200": {"description": "the analysis (JSON), or its export with `format`"},
                          **errors(401, 403, 422)}}))
        for fmt, response in _FILE_RESPONSES.items():
            out.append(Route("GET", f"{path}.{fmt}", _handler(model, compute, name, fmt), {
                "operationId": f"get_analysis_{name}_{fmt}", "summary": f"the same as {fmt.upper()}", **common,
                "responses": {"200": response, **errors(401, 403, 422)}}))
    return out


ROUTES = _routes()
