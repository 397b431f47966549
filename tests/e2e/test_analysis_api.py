"""研判分析 over HTTP (issue 17, item 4): cases pushed as hotline tickets and worked through the actions API on a
fixed clock, then the analysis endpoints counted against the hand count — volumes with period-over-period
change, the funnel with a percentile on known durations, returns and redos, repeat complaints, the trend and
its forecast band — clipped to each caller's jurisdiction, and exported as CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest

from hub.infra.clock import FixedClock
from hub.infra.settings import Settings
from tests.conftest import Hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_to_console import XINGNING_SEAT, push, ticket
from tests.e2e.test_sla_and_kpis import clocked_hub, communities_of_a_qingxiu_township

# Monday 16 November 2026, 09:00 in Nanning (week 1); week 2 starts on Monday 23 November.
WEEK1 = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
WEEK2 = WEEK1 + timedelta(days=7)
HOUR = timedelta(hours=1)


class Seeded:
    """The scenario's cases by name, the township they are in, and the clock."""

    def __init__(self, hub: Hub, clock: FixedClock) -> None:
        self.hub, self.clock = hub, clock
        self.ids: dict[str, str] = {}
        self.township: dict[str, str] = {}
        self.address: dict[int, str] = {}


async def seed(hub: Hub, clock: FixedClock) -> Seeded:
    """Township X (青秀区): week 1 — rubbish at C0, noise at C1, a manhole cover at C5, and a noise report made on
    Tuesday but pushed in week 2; week 2 — rubbish at C2, C3, C4, the manhole cover at C5 again on Monday and on
    Friday. 兴宁区: one rubbish report in week 2. Rubbish at C2–C4 is signed for after 1, 3 and 5 hours."""
    s = Seeded(hub, clock)
    key = await hub.hotline_key()
    township, communities = communities_of_a_qingxiu_township(6)
    s.township = township
    s.address = {i: f"青秀区{township['name']}{c}门口" for i, c in enumerate(communities)}

    async def report(name: str, category: str, place: int | None, reported_at: datetime | None = None,
                     confidential: bool = False) -> None:
        at = reported_at or clock.now()
        body = (ticket(XINGNING_SEAT, category=category) if place is None
                else ticket(None, address=s.address[place], category=category, confidential=confidential))
        body["reported_at"] = at.isoformat()
        status, answer = await push(hub, key, body)
        assert status == 202, answer
        s.ids[name] = answer["case_id"]

    operator = Console(hub, await hub.login("city_operator", None))
    handler = Console(hub, await hub.login("township_handler", township["code"]))
    county = Console(hub, await hub.login("county_dispatcher", "450103"))

    clock.set(WEEK1)
    await report("v1", "exposed_rubbish", 0)
    await report("v2", "noise", 1)
    await report("rep1", "manhole_cover", 5, confidential=True)  # counts, but lends no place to the candidate
    # v1: returned (职能不符), the return refused, signed, resolved, called back unsolved → a redo (返工).
    clock.advance(HOUR)
    case = await operator.case(s.ids["v1"])
    case = await handler.ok(s.ids["v1"], "return", case["version"], reason="not_our_remit", note="不归我们管")
    case = await county.ok(s.ids["v1"], "review_return", case["version"], approve=False)
    case = await handler.ok(s.ids["v1"], "accept", case["version"])
    case = await handler.ok(s.ids["v1"], "resolve", case["version"], note="已清运")
    case = await operator.ok(s.ids["v1"], "callback", case["version"], contacted=True, solved=False,
                             satisfaction="dissatisfied")
    assert case["redo_count"] == 1

    clock.set(WEEK2)
    await report("late", "noise", 0, reported_at=WEEK1 + timedelta(days=1))  # Tuesday's report, pushed late
    for name, place in (("f1", 2), ("f2", 3), ("f3", 4)):
        await report(name, "exposed_rubbish", place)
    await report("rep2", "manhole_cover", 5)
    await report("x1", "exposed_rubbish", None)
    for name in ("f1", "f2", "f3", "rep2", "late"):
        placed = await operator.case(s.ids[name])
        assert placed["areas"]["township"]["code"] == township["code"], name
        assert placed["state"] == ("dispatched" if name != "late" else placed["state"])

    async def act(name: str, action: str, **fields: Any) -> None:
        case = await operator.case(s.ids[name])
        who = operator if action == "callback" else handler
        await who.ok(s.ids[name], action, case["version"], **fields)
    clock.advance(HOUR)
    await act("f1", "accept")
    clock.advance(2 * HOUR)  # +3 h
    await act("f2", "accept")
    clock.advance(HOUR)  # +4 h
    await act("f1", "resolve", note="已清运")
    clock.advance(HOUR)  # +5 h
    await act("f3", "accept")
    await act("f1", "callback", contacted=True, solved=True, satisfaction="satisfied")
    clock.advance(HOUR)  # +6 h
    await act("f2", "resolve", note="已清运")

    clock.set(WEEK2 + timedelta(days=4))  # Friday: the manhole cover again, four days on (not merged)
    await report("rep3", "manhole_cover", 5)
    clock.advance(HOUR)
    return s


async def get(hub: Hub, who: Console, name: str, **params: Any) -> tuple[int, Any]:
    async with hub.http.get(f"{hub.base}/api/v1/analysis/{name}", params=params, headers=who.headers) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, (resp.content_type, resp.headers.get("Content-Disposition"), await resp.read())


async def ok(hub: Hub, who: Console, name: str, **params: Any) -> Any:
    status, body = await get(hub, who, name, **params)
    assert status == 200, body
    return body


def by_code(rows: list[dict[str, Any]], code: str, period: str | None = None) -> dict[str, Any]:
    [row] = [r for r in rows if r.get("area_code") == code and (period is None or r.get("period") == period)]
    return row


async def test_analysis_counts_clips_and_exports(settings: Settings) -> None:
    clock = FixedClock(WEEK1)
    async with clocked_hub(settings, clock) as hub:
        s = await seed(hub, clock)
        x = s.township["code"]
        operator = Console(hub, await hub.login("city_operator", None))
        handler = Console(hub, await hub.login("township_handler", x))
        xingning = Console(hub, await hub.login("county_dispatcher", "450102"))

        # Volumes: week 2 against week 1, by township, in 青秀区 (the drill-down from the city's counties).
        range2 = {"from": "2026-11-23", "to": "2026-11-29"}
        week2 = {"period": "week", **range2}
        city = await ok(hub, operator, "volumes", **week2)
        assert city["level"] == "county" and city["previous_from"] == "2026-11-16"
        qingxiu = by_code(city["totals"], "450103")
        assert (qingxiu["count"], qingxiu["previous"], qingxiu["change"], qingxiu["change_pct"]) == (5, 4, 1, 25.0)
        assert by_code(city["totals"], "450102")["count"] == 1
        assert city["total"] == {"count": 6, "previous": 4, "change": 2, "change_pct": 50.0}
        drilled = await ok(hub, operator, "volumes", area="450103", **week2)
        assert drilled["level"] == "township" and drilled["area"]["name"] == "青秀区"
        row = by_code(drilled["rows"], x, "2026-W48")
        assert (row["count"], row["previous"], row["change"]) == (5, 4, 1)
        assert row["area_name"] == s.township["name"]
        # By day and category: the late report counts on the Tuesday it was made.
        daily = await ok(hub, operator, "volumes", period="day", by="category,area", category_level=3, area=x,
                         level="township", **{"from": "2026-11-16", "to": "2026-11-17"})
        noise = [(r["period"], r["count"]) for r in daily["rows"] if r["category_code"] == "050101"]
        assert noise == [("2026-11-16", 1), ("2026-11-17", 1)]
        assert {r["category_name"] for r in daily["rows"]} >= {"噪声扰民", "暴露垃圾", "井盖缺失破损"}
        # Category drill-down at the top level (01 公用设施 holds the manhole covers), by source.
        by_source = await ok(hub, operator, "volumes", by="source", category="01", area=x, **week2)
        assert by_source["totals"] == [{"source": "hotline", "count": 2, "previous": 1, "change": 1,
                                        "change_pct": 100.0}]

        # Jurisdiction: the township's handler sees its township only, whatever it asks for.
        own = await ok(hub, handler, "volumes", **week2)
        assert own["area"]["code"] == x and own["total"]["count"] == 5
        clipped = await ok(hub, handler, "volumes", area="450100", **week2)
        assert clipped["area"]["code"] == x and clipped["total"]["count"] == 5
        for name in ("volumes", "funnel", "returns", "repeats", "trend"):
            status, body = await get(hub, handler, name, area="450102")
            assert status == 403 and body["error"]["fields"][0]["field"] == "area", name
        other = await ok(hub, xingning, "volumes", level="township", **week2)
        assert other["total"]["count"] == 1 and all(not r["area_code"].startswith("450103") for r in other["rows"])

        # The funnel of week 2 in township X: five cases; three signed after 1, 3 and 5 hours.
        funnel = await ok(hub, handler, "funnel", **range2)
        stages = {r["stage"]: r["cases"] for r in funnel["stages"]}
        assert stages == {"received": 5, "dispatched": 5, "signed": 3, "resolved": 2, "evaluated": 1, "closed": 1}
        gov = f"{x}-gov"
        [sign] = [r for r in funnel["steps"] if r["step"] == "sign" and r["unit_code"] == gov]
        assert (sign["n"], sign["p50_hours"], sign["p90_hours"]) == (3, 3.0, pytest.approx(4.6))
        [resolve] = [r for r in funnel["steps"] if r["step"] == "resolve" and r["unit_code"] == gov]
        assert (resolve["n"], resolve["p50_hours"]) == (2, 3.0)
        waiting = {(r["step"], r["unit_code"]): r for r in funnel["waiting"]}
        assert waiting[("resolve", gov)]["cases"] == 2  # f3 and the redone v1
        assert waiting[("evaluate", gov)]["oldest_case_ids"] == [s.ids["f2"]]
        assert funnel["waiting"][0]["oldest_hours"] >= funnel["waiting"][-1]["oldest_hours"]
        empty = await ok(hub, xingning, "funnel", **range2)
        assert {r["stage"]: r["cases"] for r in empty["stages"]}["signed"] == 0

        # Returns and redos: v1's return (职能不符) and its redo after an unsolved callback, both in week 1.
        weeks = {"from": "2026-11-16", "to": "2026-11-29"}
        returns = await ok(hub, operator, "returns", **weeks)
        assert [(r["kind"], r["reason"], r["unit_code"], r["count"]) for r in returns["rows"]] == [
            ("redo", "unsolved", gov, 1), ("return", "not_our_remit", gov, 1)]
        assert returns["units"] == [{"unit_code": gov, "unit_name": returns["units"][0]["unit_name"],
                                     "returns": 1, "redos": 1}]
        assert (await ok(hub, xingning, "returns", **weeks))["rows"] == []

        # Repeat complaints: the manhole cover at C5 three times in 11 days; nothing else repeats.
        repeats = await ok(hub, operator, "repeats", **weeks)
        [candidate] = repeats["candidates"]
        assert candidate["category_code"] == "010201" and candidate["reports"] == 3
        assert [c["case_id"] for c in candidate["cases"]] == [s.ids["rep1"], s.ids["rep2"], s.ids["rep3"]]
        assert candidate["first_reported_at"] == WEEK1.isoformat() and candidate["problems"] == 3
        assert candidate["address"] in (None, s.address[5]) and candidate["area_code"].startswith(x)
        assert (await ok(hub, operator, "repeats", min_reports=4, **weeks))["candidates"] == []
        assert (await ok(hub, operator, "repeats", days=5, **weeks))["candidates"][0]["reports"] == 2
        assert (await ok(hub, xingning, "repeats", **weeks))["candidates"] == []

        # The trend of township X by day, with a forecast band for the next two weeks.
        trend = await ok(hub, handler, "trend", **{"from": "2026-11-16", "to": "2026-11-27"})
        counts = {d["day"]: d["count"] for d in trend["days"]}
        assert (counts["2026-11-16"], counts["2026-11-17"], counts["2026-11-23"], counts["2026-11-27"]) == (3, 1, 4, 1)
        assert sum(counts.values()) == 9
        band = trend["forecast"]["days"]
        assert len(band) == 14 and band[0]["day"] == "2026-11-28"
        assert all(0 <= d["lower"] <= d["mean"] <= d["upper"] for d in band)

        # Exports: CSV (Chinese headers by default, English on request) and XLSX, by parameter and by path.
        content_type, disposition, raw = await ok(hub, operator, "volumes.csv", area="450103", **week2)
        assert content_type == "text/csv" and disposition == 'attachment; filename="analysis-volumes.csv"'
        table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        [csv_row] = [r for r in table if r["区域编码"] == x]
        assert (csv_row["数量"], csv_row["上期数量"], csv_row["环比变化率(%)"]) == ("5", "4", "25.0")
        _, disposition, raw = await ok(hub, operator, "volumes.csv", area="450103", sheet="totals", **week2)
        assert disposition == 'attachment; filename="analysis-volumes-totals.csv"'
        [total_row] = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert (total_row["区域编码"], total_row["数量"], total_row["环比变化"]) == (x, "5", "1")
        _, _, raw = await ok(hub, operator, "returns", format="csv", lang="en", **weeks)
        assert {r["Reason"] for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))} == {
            "Not our remit", "Unsolved at callback"}
        for name, params in (("funnel.xlsx", {}), ("funnel", {"format": "xlsx"})):
            content_type, disposition, raw = await ok(hub, handler, name, **params, **range2)
            assert content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            assert disposition == 'attachment; filename="analysis-funnel.xlsx"'
            book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True)
            assert book.sheetnames == ["环节漏斗", "环节时长", "当前等待"]
            sheet = [list(r) for r in book["环节漏斗"].iter_rows(values_only=True)]
            assert sheet[0] == ["环节", "工单数", "占受理比例(%)"] and sheet[1] == ["受理", 5, 100]
        _, _, raw = await ok(hub, operator, "repeats.xlsx", **weeks)
        rows = list(openpyxl.load_workbook(io.BytesIO(raw))["重复诉求"].iter_rows(values_only=True))
        assert rows[1][0] == "010201" and rows[1][rows[0].index("反映次数")] == 3


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
    ({"from": "2026-13-01"}, "from"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "from"),
    ({"level": "city"}, "level"),
    ({"level": "planet"}, "level"),
    ({"by": "source,weather"}, "by"),
    ({"period": "hour"}, "period"),
    ({"category": "01;DROP"}, "category"),
    ({"area": "4501"}, "area"),
    ({"sheet": "nope"}, "sheet"),
    ({"format": "pdf"}, "format"),
    ({"unknown": "1"}, "unknown"),
    ({"category": "0" * 33}, "category"),
])
async def test_bad_parameters_are_named(hub: Hub, params: dict[str, str], field: str) -> None:
    operator = Console(hub, await hub.login("city_operator", None))
    status, body = await get(hub, operator, "volumes", **params)
    assert status == 422, body
    assert field in {f["field"] for f in body["error"]["fields"]}, body


async def test_a_level_above_the_area_and_a_nul_are_refused(hub: Hub) -> None:
    operator = Console(hub, await hub.login("city_operator", None))
    status, body = await get(hub, operator, "volumes", area="450103001", level="county")
    assert status == 422 and body["error"]["fields"][0]["field"] == "level"
    status, body = await get(hub, operator, "repeats", category="01\x00")
    assert status == 422 and body["error"]["fields"][0]["field"] == "category"
    for name, params in (("repeats", {"days": "93"}), ("repeats", {"radius_m": "5"}), ("trend", {"horizon": "30"})):
        status, body = await get(hub, operator, name, **params)
        assert status == 422 and body["error"]["fields"][0]["field"] == next(iter(params)), (name, body)


async def test_the_analysis_routes_are_in_openapi_with_their_parameters(hub: Hub) -> None:
    async with hub.http.get(f"{hub.base}/openapi.json") as resp:
        paths = (await resp.json())["paths"]
    for name in ("volumes", "funnel", "returns", "repeats", "trend"):
        for suffix in ("", ".csv", ".xlsx"):
            operation = paths[f"/api/v1/analysis/{name}{suffix}"]["get"]
            names = {p["name"] for p in operation["parameters"]}
            assert {"from", "to", "area", "category", "source", "lang"} <= names, (name, suffix)
    volumes = {p["name"]: p for p in paths["/api/v1/analysis/volumes"]["get"]["parameters"]}
    assert volumes["period"]["schema"]["enum"] == ["day", "week", "month"]
    assert "text/csv" in paths["/api/v1/analysis/returns.csv"]["get"]["responses"]["200"]["content"]
