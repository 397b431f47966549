"""The review report (复盘) of an emergency incident: what happened when, how many cases of which category and
area and in which state, how fast each unit signed for and resolved its cases (p50 / p90, PostgreSQL's
percentile_cont), and the directives' answer times where there are directives. Built once at close from the
projections and kept with the incident as an XLSX workbook (openpyxl)."""

from __future__ import annotations

import io
from typing import Any

import asyncpg
from openpyxl import Workbook
from openpyxl.styles import Font

from dispatch.events import JsonDict
from hub.store.incidents import IncidentReads

# Per lead unit (and overall: the grouping set ()), over the incident's linked cases that were dispatched.
# Response = 签收 time after dispatch (0 when the level skipped it); resolution = 办结 time after dispatch.
_TIMES = """
WITH t AS (
    SELECT c.doc -> 'units' -> 'lead' ->> 'code' AS unit_code, c.doc -> 'units' -> 'lead' ->> 'name' AS unit_name,
           extract(epoch FROM (c.doc ->> 'accepted_at')::timestamptz - (c.doc ->> 'dispatched_at')::timestamptz)
               AS response_s,
           extract(epoch FROM (c.doc ->> 'resolved_at')::timestamptz - (c.doc ->> 'dispatched_at')::timestamptz)
               AS resolution_s
    FROM incident_cases l JOIN cases c USING (case_id)
    WHERE l.incident_id = $1 AND c.doc ->> 'dispatched_at' IS NOT NULL
)
SELECT unit_code, max(unit_name) AS unit_name, grouping(unit_code) = 1 AS overall, count(*) AS cases,
       count(response_s) AS signed, count(resolution_s) AS resolved,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY response_s) AS response_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY response_s) AS response_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_s) AS resolution_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY resolution_s) AS resolution_p90
FROM t GROUP BY GROUPING SETS ((unit_code), ()) ORDER BY overall, cases DESC, unit_code
"""
_VOLUMES = """
SELECT 'category' AS by, coalesce(c.category_code, '') AS code,
       coalesce(c.doc -> 'category' -> 'path' ->> -1, '') AS name, count(*) AS cases
FROM incident_cases l JOIN cases c USING (case_id) WHERE l.incident_id = $1 GROUP BY 2, 3
UNION ALL
SELECT 'area', coalesce(c.township_code, c.county_code, ''),
       coalesce(c.doc -> 'areas' -> 'township' ->> 'name', c.doc -> 'areas' -> 'county' ->> 'name', ''), count(*)
FROM incident_cases l JOIN cases c USING (case_id) WHERE l.incident_id = $1 GROUP BY 2, 3
UNION ALL
SELECT 'state', c.state, '', count(*)
FROM incident_cases l JOIN cases c USING (case_id) WHERE l.incident_id = $1 GROUP BY 2
ORDER BY 1, 4 DESC, 2
"""
# The linked cases' milestones, for the timeline beside the incident's own events.
_MILESTONES = """
SELECT c.case_id, c.doc ->> 'created_at' AS received, c.doc ->> 'dispatched_at' AS dispatched,
       c.doc ->> 'accepted_at' AS accepted, c.doc ->> 'resolved_at' AS resolved, c.doc ->> 'closed_at' AS closed,
       c.doc -> 'units' -> 'lead' ->> 'name' AS unit, l.how
FROM incident_cases l JOIN cases c USING (case_id) WHERE l.incident_id = $1 ORDER BY c.created_at LIMIT 5000
"""
# Directives sent under the incident (issue 18 item 1, table `directives` when that part is in the hub): how many
# units acknowledged and replied, and how long after issue (p50 / p90).
_DIRECTIVES = """
SELECT d.doc ->> 'title' AS title, max((d.doc ->> 'total')::int) AS total,
       max((d.doc ->> 'acknowledged')::int) AS acknowledged, max((d.doc ->> 'replied')::int) AS replied,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM (r ->> 'acknowledged_at')::timestamptz
                                                             - d.issued_at)) AS ack_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM (r ->> 'acknowledged_at')::timestamptz
                                                             - d.issued_at)) AS ack_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM (r -> 'reply' ->> 'at')::timestamptz
                                                             - d.issued_at)) AS reply_p50
FROM directives d LEFT JOIN LATERAL jsonb_array_elements(d.doc -> 'recipients') r ON true
WHERE d.incident_id = $1 GROUP BY d.directive_id, d.doc ->> 'title', d.issued_at ORDER BY d.issued_at
"""
_MILESTONE_WORDS = {"received": "受理 received", "dispatched": "派单 dispatched", "accepted": "签收 signed",
                    "resolved": "办结 resolved", "closed": "结案 closed"}
_EVENT_WORDS = {"incident.declared": "启动 declared", "incident.updated": "调整 updated",
                "incident.case_linked": "关联工单 cases linked", "incident.closed": "关闭 closed"}


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


async def build_review(pool: asyncpg.Pool, reads: IncidentReads, incident: JsonDict) -> JsonDict:
    """The review's figures, as plain data (the API could serve them as JSON too)."""
    incident_id = incident["incident_id"]
    async with pool.acquire() as conn:
        times = await conn.fetch(_TIMES, incident_id)
        volumes = await conn.fetch(_VOLUMES, incident_id)
        milestones = await conn.fetch(_MILESTONES, incident_id)
        directives = await conn.fetch(_DIRECTIVES, str(incident_id)) \
            if await conn.fetchval("SELECT to_regclass('directives') IS NOT NULL") else []
    timeline: list[dict[str, Any]] = []
    for ev in await reads.events(incident_id):
        data = ev["data"]
        what = {"incident.declared": f"{data.get('level')} {data.get('title')}",
                "incident.updated": f"{data.get('previous_level')} → {data.get('level')}",
                "incident.case_linked": f"{len(data.get('case_ids') or [])} ({data.get('how')})",
                "incident.closed": data.get("summary") or ""}.get(ev["type"], "")
        timeline.append({"at": data.get("at") or ev["recorded_at"].isoformat(),
                         "event": _EVENT_WORDS.get(ev["type"], ev["type"]), "detail": what, "case_id": None})
    for row in milestones:
        for step in _MILESTONE_WORDS:
            if row[step]:
                timeline.append({"at": row[step], "event": _MILESTONE_WORDS[step], "detail": row["unit"] or "",
                                 "case_id": str(row["case_id"])})
    timeline.sort(key=lambda t: t["at"])
    units = [{"unit": {"code": r["unit_code"], "name": r["unit_name"]}, "overall": r["overall"], "cases": r["cases"],
              "signed": r["signed"], "resolved": r["resolved"],
              "response_p50_s": _seconds(r["response_p50"]), "response_p90_s": _seconds(r["response_p90"]),
              "resolution_p50_s": _seconds(r["resolution_p50"]), "resolution_p90_s": _seconds(r["resolution_p90"])}
             for r in times]
    return {"incident": incident, "timeline": timeline,
            "volumes": [{"by": r["by"], "code": r["code"], "name": r["name"], "cases": r["cases"]} for r in volumes],
            "units": [u for u in units if not u["overall"]],
            "overall": next((u for u in units if u["overall"]), None),
            "directives": [{"title": r["title"], "total": r["total"], "acknowledged": r["acknowledged"],
                            "replied": r["replied"], "ack_p50_s": _seconds(r["ack_p50"]),
                            "ack_p90_s": _seconds(r["ack_p90"]), "reply_p50_s": _seconds(r["reply_p50"])}
                           for r in directives]}


_BOLD = Font(bold=True)


def _sheet(wb: Workbook, title: str, header: list[str], rows: list[list[Any]]) -> None:
    ws = wb.create_sheet(title)
    ws.append(header)
    for cell in ws[1]:
        cell.font = _BOLD
    for row in rows:
        ws.append(row)
    for i, name in enumerate(header):
        ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = max(12, min(48, len(name) + 4))


def review_xlsx(review: JsonDict) -> bytes:
    """The review as a workbook: 概况 Summary, 时间线 Timeline, 数量 Volumes, 响应 Units, 指令 Directives.
    Times are in seconds (numbers, so that a spreadsheet computes with them)."""
    incident = review["incident"]
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = "概况 Summary"
    overall = review["overall"] or {}
    rows: list[tuple[str, Any]] = [
        ("事件 Incident", incident.get("title")), ("编号 ID", incident["incident_id"]),
        ("类型 Kind", incident.get("kind")), ("级别 Level", incident.get("level")),
        ("区域 Areas", ", ".join(f"{a.get('name') or ''} {a['code']}".strip() for a in incident.get("areas") or [])),
        ("类别 Categories", ", ".join(f"{c.get('name') or ''} {c['code']}".strip()
                                     for c in incident.get("categories") or []) or "全部 all"),
        ("启动 Declared", incident.get("declared_at")),
        ("启动人 Declared by", (incident.get("declared_by") or {}).get("name")),
        ("关闭 Closed", incident.get("closed_at")), ("关闭人 Closed by", (incident.get("closed_by") or {}).get("name")),
        ("总结 Summary", incident.get("summary")),
        ("工单数 Cases", overall.get("cases", 0)), ("已签收 Signed", overall.get("signed", 0)),
        ("已办结 Resolved", overall.get("resolved", 0)),
        ("签收用时 p50 (s) Response p50", overall.get("response_p50_s")),
        ("签收用时 p90 (s) Response p90", overall.get("response_p90_s")),
        ("办结用时 p50 (s) Resolution p50", overall.get("resolution_p50_s")),
        ("办结用时 p90 (s) Resolution p90", overall.get("resolution_p90_s")),
    ]
    for key, value in rows:
        summary.append([key, value])
    for cell in summary["A"]:
        cell.font = _BOLD
    summary.column_dimensions["A"].width = 34
    summary.column_dimensions["B"].width = 60
    _sheet(wb, "时间线 Timeline", ["时间 At", "事项 Event", "详情 Detail", "工单 Case"],
           [[t["at"], t["event"], t["detail"], t["case_id"]] for t in review["timeline"]])
    _sheet(wb, "数量 Volumes", ["维度 By", "代码 Code", "名称 Name", "工单数 Cases"],
           [[v["by"], v["code"], v["name"], v["cases"]] for v in review["volumes"]])
    _sheet(wb, "响应 Units", ["单位代码 Unit code", "单位 Unit", "工单数 Cases", "已签收 Signed", "已办结 Resolved",
                              "签收p50(s)", "签收p90(s)", "办结p50(s)", "办结p90(s)"],
           [[u["unit"]["code"], u["unit"]["name"], u["cases"], u["signed"], u["resolved"], u["response_p50_s"],
             u["response_p90_s"], u["resolution_p50_s"], u["resolution_p90_s"]] for u in review["units"]])
    _sheet(wb, "指令 Directives", ["指令 Directive", "接收单位 Recipients", "已签收 Acknowledged", "已回复 Replied",
                                   "签收p50(s)", "签收p90(s)", "回复p50(s)"],
           [[d["title"], d["total"], d["acknowledged"], d["replied"], d["ack_p50_s"], d["ack_p90_s"],
             d["reply_p50_s"]] for d in review["directives"]])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
