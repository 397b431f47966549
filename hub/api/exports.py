"""Analysis exports (研判分析 · 导出): the tables an analysis answer holds, as CSV or as an XLSX workbook.

CSV is one table (the answer's first, or the one `sheet` names); XLSX holds every table, one sheet each.
Headers — and the coded values a reader would otherwise have to look up (stages, steps, reasons, sources) —
are in the language asked for (`lang`, Chinese by default: the 研判 reports go to Chinese offices), from the
words below; the JSON answer keeps the codes. CSV starts with a BOM so that Excel reads the Chinese.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aiohttp import web

Lang = Literal["zh", "en"]
CSV_TYPE: Final = "text/csv"
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Column headers and table (sheet) names: (Chinese, English).
WORDS: Final[dict[str, tuple[str, str]]] = {
    "period": ("周期", "Period"), "source": ("来源", "Source"), "category_code": ("类别编码", "Category code"),
    "category_name": ("类别", "Category"), "area_code": ("区域编码", "Area code"), "area_name": ("区域", "Area"),
    "count": ("数量", "Count"), "previous": ("上期数量", "Previous"), "change": ("环比变化", "Change"),
    "change_pct": ("环比变化率(%)", "Change (%)"), "stage": ("环节", "Stage"), "cases": ("工单数", "Cases"),
    "share": ("占受理比例(%)", "Share of received (%)"), "step": ("步骤", "Step"),
    "unit_code": ("单位编码", "Unit code"), "unit_name": ("承办单位", "Unit"), "n": ("样本数", "Samples"),
    "p50_hours": ("中位时长(小时)", "p50 (hours)"), "p90_hours": ("P90时长(小时)", "p90 (hours)"),
    "oldest_hours": ("最长等待(小时)", "Oldest (hours)"), "oldest_tickets": ("等待最久的工单", "Oldest tickets"),
    "kind": ("类型", "Kind"), "reason": ("原因", "Reason"), "reports": ("反映次数", "Reports"),
    "problems": ("独立工单数", "Cases (not merged)"),
    "first_reported_at": ("首次反映", "First reported"), "last_reported_at": ("最近反映", "Last reported"),
    "spread_m": ("范围(米)", "Spread (m)"), "lng": ("经度", "Longitude"), "lat": ("纬度", "Latitude"),
    "address": ("地址", "Address"), "tickets": ("工单号", "Tickets"), "day": ("日期", "Day"),
    "mean": ("预测值", "Forecast"), "lower": ("区间下限", "Lower"), "upper": ("区间上限", "Upper"),
    "rows": ("明细", "Rows"), "totals": ("合计", "Totals"), "stages": ("环节漏斗", "Stages"),
    "steps": ("环节时长", "Steps"), "waiting": ("当前等待", "Waiting"), "returns": ("退回与返工", "Returns and redos"),
    "repeats": ("重复诉求", "Repeat complaints"), "trend": ("趋势", "Trend"), "forecast": ("预测", "Forecast"),
}
# Coded values shown in words: (Chinese, English).
VALUES: Final[dict[str, tuple[str, str]]] = {
    "received": ("受理", "Received"), "dispatched": ("派遣", "Dispatched"), "signed": ("签收", "Signed"),
    "resolved": ("办结", "Resolved"), "evaluated": ("回访评价", "Evaluated"), "closed": ("结案", "Closed"),
    "dispatch": ("受理→派遣", "Received → dispatched"), "sign": ("派遣→签收", "Dispatched → signed"),
    "resolve": ("签收→办结", "Signed → resolved"), "evaluate": ("办结→回访", "Resolved → evaluated"),
    "close": ("回访→结案", "Evaluated → closed"), "return_review": ("退单审核", "Return review"),
    "return": ("退回", "Return"), "redo": ("返工", "Redo"),
    "not_our_remit": ("职能不符", "Not our remit"), "wrong_area": ("属地不符", "Wrong area"),
    "unclear_ownership": ("权属不清", "Unclear ownership"), "unsolved": ("回访未解决", "Unsolved at callback"),
    "dissatisfied": ("回访不满意", "Dissatisfied at callback"),
    "hotline": ("12345热线", "Hotline"), "open311": ("Open311", "Open311"), "iot": ("物联感知", "IoT"),
    "grid": ("网格上报", "Grid"), "reopen": ("重新打开", "Reopened"),
}
# Columns whose values are codes to show in words.
_WORDED: Final = frozenset({"stage", "step", "kind", "reason", "source"})


@dataclass(frozen=True, slots=True)
class Table:
    """One table of an analysis answer: `key` names it (a sheet), `columns` in order, rows as dicts."""

    key: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)


def word(key: str, lang: Lang, table: dict[str, tuple[str, str]] = WORDS) -> str:
    pair = table.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]


def _cell(column: str, value: Any, lang: Lang) -> Any:
    if value is None:
        return ""
    if column in _WORDED and isinstance(value, str):
        return word(value, lang, VALUES)
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value


def csv_bytes(table: Table, lang: Lang) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([word(c, lang) for c in table.columns])
    for row in table.rows:
        writer.writerow([_cell(c, row.get(c), lang) for c in table.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_bytes(tables: list[Table], lang: Lang) -> bytes:
    # Imported here: only exports need openpyxl. Write-only mode streams rows instead of holding cell objects.
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for table in tables:
        sheet = book.create_sheet(title=word(table.key, lang)[:31])  # Excel's limit on a sheet name
        sheet.append([word(c, lang) for c in table.columns])
        for row in table.rows:
            sheet.append([_cell(c, row.get(c), lang) for c in table.columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_response(tables: list[Table], fmt: Literal["csv", "xlsx"], lang: Lang, name: str,
                    sheet: str | None = None) -> web.Response:
    """The download: `name`.csv (the table `sheet` names, else the first) or `name`.xlsx (every table)."""
    if fmt == "csv":
        table = next((t for t in tables if t.key == sheet), tables[0])
        filename = f"{name}.csv" if sheet is None else f"{name}-{table.key}.csv"
        return web.Response(body=csv_bytes(table, lang), content_type=CSV_TYPE, charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return web.Response(body=xlsx_bytes(tables, lang), content_type=XLSX_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
