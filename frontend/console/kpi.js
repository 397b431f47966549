// The KPI panel (考核指标): the headline figures counted by the server, the jurisdiction's three rates and
// on-time rates this month with their daily trend (ECharts), the township ranking by composite score with the
// sample size (有效回访 n) beside every rate — only townships with enough callbacks are ranked, the rest are
// listed as under-sampled — the red and black lists (红黑榜), the cases of a township a click picks, and a
// category × county heat matrix of the last 30 days' cases (高频事项). Refreshed every minute while shown.

import { categoryLabel, esc, formatTime, stateName } from "/static/shared/i18n.js";
import { caseLabel, w } from "./words.js";

const REFRESH_MS = 60000;
const TEXT = "#cfe3f5";
const GRID_LINE = "#22384d";
const CITY = "450100";
const TREND_DAYS = 30;
const UNIT_CASES = 50;
// The rates shown for the jurisdiction and in its trend, each with the count it is a share of (`samples`).
const RATES = ["response_rate", "resolution_rate", "satisfaction_rate", "on_time_sign_rate", "on_time_resolution_rate"];
const RATE_COLOURS = ["#4fa3d1", "#2e9d57", "#e6a117", "#b58ce0", "#d86a6a"];

// After a live event the figures are asked for at least this long after it (longer than the server's
// per-scope cache, hub.services.headline), so that the answer counts the event; and every so often anyway,
// because SLA states move with the clock.
const HEADLINE_DEBOUNCE_MS = 2500;
const HEADLINE_EVERY_MS = 15000;

/** The headline figures (在办, 超时, 预警, 待研判, 今日新增) from GET /api/v1/console/headline. */
export class Headline {
  constructor({ api, onChange }) {
    this.api = api;
    this.onChange = onChange;
    this.figures = null;
    this.timer = null;
    this.dirty = false;
    this.every = setInterval(() => this.load(), HEADLINE_EVERY_MS);
  }

  /** Refresh a while after events: at most one request per interval under a stream of events, and one more
   *  at least the interval after the last event of a burst (so that it is counted). */
  soon() {
    this.dirty = true;
    if (!this.timer) this.schedule();
  }

  schedule() {
    this.dirty = false;
    this.timer = setTimeout(() => {
      this.timer = null;
      const again = this.dirty; // events came while waiting: ask once more after them
      this.load();
      if (again) this.schedule();
    }, HEADLINE_DEBOUNCE_MS);
  }

  async load() {
    try {
      this.figures = await this.api.get("/api/v1/console/headline");
    } catch { return; } // keep the last figures; the next event or tick asks again
    this.onChange(this.figures);
  }
}

export function headlineHtml(n) {
  const value = (key) => (n && typeof n[key] === "number" ? n[key] : "—");
  const cell = (key, cls = "") => `<div class="num ${cls}" data-kpi="${key}"><b>${value(key)}</b><span>${esc(w(`kpi.${key}`))}</span></div>`;
  return cell("open") + cell("overdue", n && n.overdue ? "bad" : "")
    + cell("warning", n && n.warning ? "warn" : "") + cell("triage") + cell("today");
}

const pct = (v) => (typeof v === "number" ? `${(v * 100).toFixed(1)}%` : "—");
const nOf = (row, rate) => (row.samples ? row.samples[rate] : row.valid_callbacks);
/** "86.0% (n=12)": every rate with the count behind it. */
const rateWithN = (row, rate) => `${pct(row[rate])} (${w("kpi.n", { n: nOf(row, rate) ?? 0 })})`;

/** The level and code of the user's jurisdiction, as the KPI rows name it. */
function homeLevel(area) {
  if (!area || area === CITY) return { level: "city", code: null };
  if (area.length === 6) return { level: "county", code: area };
  return { level: "township", code: area.slice(0, 9) };
}

/** The local (Asia/Shanghai) dates of the `days` days up to the one containing `iso`. */
function lastDays(iso, days) {
  const end = Date.parse(iso) + 8 * 3600 * 1000;
  return Array.from({ length: days }, (_, i) => new Date(end - (days - 1 - i) * 86400000).toISOString().slice(0, 10));
}

export class KpiPanel {
  constructor({ api, els, toast, area, onCase }) {
    this.api = api;
    this.els = els; // {numbers, rates, trend, ranking, rankNote, unranked, red, black, unitCases, heat, asof}
    this.toast = toast;
    this.home = homeLevel(area);
    this.onCase = onCase;
    this.visible = false;
    this.charts = null;
    this.figures = null; // the headline, from the server (Headline)
    this.rows = null;
    this.minSamples = null;
    this.homeRow = null;
    this.trend = null;
    this.hot = null;
    this.unit = null; // {code, name, cases}: the township whose cases are listed
    this.timer = setInterval(() => { if (this.visible) this.refresh(); }, REFRESH_MS);
    // A township picked in the lists (red, black, under-sampled): its cases. A listed case opens.
    for (const el of [els.red, els.black, els.unranked]) {
      el.addEventListener("click", (ev) => {
        const li = ev.target.closest("li[data-code]");
        if (li) this.openUnit(li.dataset.code);
      });
      el.addEventListener("keydown", (ev) => {
        const li = ev.target.closest("li[data-code]");
        if (li && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); this.openUnit(li.dataset.code); }
      });
    }
    els.unitCases.addEventListener("click", (ev) => {
      if (ev.target.closest("button.close")) { this.unit = null; this.renderUnitCases(); return; }
      const li = ev.target.closest("li[data-case-id]");
      if (li) this.onCase(li.dataset.caseId);
    });
  }

  show() {
    this.visible = true;
    if (!this.charts) {
      this.charts = { trend: window.echarts.init(this.els.trend), ranking: window.echarts.init(this.els.ranking),
                      heat: window.echarts.init(this.els.heat) };
      this.charts.ranking.on("click", (p) => {
        const r = this.ranked()[p.dataIndex];
        if (r) this.openUnit(r.code);
      });
    }
    this.resize();
    this.renderNumbers();
    this.render();
    return this.refresh();
  }

  hide() { this.visible = false; }

  resize() { if (this.charts) Object.values(this.charts).forEach((chart) => chart.resize()); }

  async refresh() {
    const { level, code } = this.home;
    try {
      const [kpis, home, days, hot] = await Promise.all([
        this.api.get("/api/v1/kpis", { level: "township", period: "month" }),
        this.api.get("/api/v1/kpis", { level, period: "month" }),
        this.api.get("/api/v1/kpis", { level, period: "day" }),
        this.api.get("/api/v1/hotspots", { level: "county", days: 30 }),
      ]);
      const latest = (rows) => rows.reduce((m, r) => (r.period > m ? r.period : m), "");
      const period = latest(kpis.rows);
      this.rows = kpis.rows.filter((r) => r.period === period);
      this.minSamples = kpis.min_samples;
      this.asOf = kpis.as_of;
      const mine = (r) => code === null || r.code === code;
      const homeRows = home.rows.filter(mine);
      this.homeRow = homeRows.find((r) => r.period === latest(homeRows)) || null;
      const byDay = new Map(days.rows.filter(mine).map((r) => [r.period, r]));
      this.trend = lastDays(days.as_of, TREND_DAYS).map((day) => ({ day, row: byDay.get(day) || null }));
      this.hot = hot.rows;
    } catch (err) {
      if (this.toast) this.toast(err.describe ? err.describe() : String(err), "error");
      return;
    }
    if (this.visible) this.render();
  }

  setFigures(figures) {
    this.figures = figures;
    this.renderNumbers();
  }

  renderNumbers() {
    if (this.els.numbers) this.els.numbers.innerHTML = headlineHtml(this.figures);
  }

  render() {
    if (!this.charts || !this.rows) return;
    this.renderRates();
    this.renderTrend();
    this.renderRanking();
    this.renderBoards();
    this.renderUnitCases();
    this.renderHeat();
    this.els.asof.textContent = this.asOf ? w("kpi.asof", { time: formatTime(this.asOf) }) : "";
  }

  /** The jurisdiction's rates this month, each with its n. */
  renderRates() {
    const row = this.homeRow;
    this.els.rates.innerHTML = RATES.map((rate) => {
      const value = row ? pct(row[rate]) : "—";
      const n = row ? (nOf(row, rate) ?? 0) : 0;
      return `<div class="rate" data-rate="${rate}"><b>${value}</b><span>${esc(w(`kpi.${rate}`))}</span>`
        + `<small data-n="${n}">${esc(w("kpi.n", { n }))}</small></div>`;
    }).join("");
  }

  renderTrend() {
    const chart = this.charts.trend;
    const points = this.trend || [];
    this.els.trend.dataset.days = String(points.filter((p) => p.row).length);
    if (!points.some((p) => p.row)) {
      chart.clear();
      chart.setOption(emptyOption(w("kpi.trend_nodata")));
      return;
    }
    chart.setOption({
      animation: false,
      color: RATE_COLOURS,
      grid: { left: 6, right: 10, top: 30, bottom: 4, containLabel: true },
      legend: { top: 0, textStyle: { color: TEXT, fontSize: 11 }, itemWidth: 14, itemHeight: 8 },
      tooltip: {
        trigger: "axis",
        formatter: (items) => {
          const p = points[items[0].dataIndex];
          if (!p.row) return `${esc(p.day)}<br>${esc(w("kpi.trend_nodata"))}`;
          return `<b>${esc(p.day)}</b>` + RATES.map((rate) => `<br>${esc(w(`kpi.${rate}`))}: ${esc(rateWithN(p.row, rate))}`).join("");
        },
      },
      xAxis: { type: "category", data: points.map((p) => p.day.slice(5)), axisLabel: { color: TEXT, fontSize: 10 },
               axisLine: { lineStyle: { color: GRID_LINE } } },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { color: TEXT, formatter: "{value}%" },
               splitLine: { lineStyle: { color: GRID_LINE } } },
      series: RATES.map((rate) => ({
        name: w(`kpi.${rate}`), type: "line", connectNulls: true, symbolSize: 5,
        data: points.map((p) => (p.row && typeof p.row[rate] === "number" ? +(p.row[rate] * 100).toFixed(1) : null)),
      })),
    }, true);
  }

  /** Townships with enough samples, best first (the server ranks them: `rank`). */
  ranked() {
    return this.rows.filter((r) => typeof r.rank === "number").sort((a, b) => a.rank - b.rank);
  }

  unranked() {
    return this.rows.filter((r) => typeof r.rank !== "number")
      .sort((a, b) => (b.valid_callbacks - a.valid_callbacks) || String(a.code).localeCompare(String(b.code)));
  }

  renderRanking() {
    const ranked = this.ranked();
    const chart = this.charts.ranking;
    this.els.ranking.dataset.rows = String(ranked.length);
    this.els.rankNote.textContent = this.minSamples ? w("kpi.min_note", { min: this.minSamples }) : "";
    const unranked = this.unranked();
    this.els.unranked.innerHTML = unranked.length
      ? `<li class="label">${esc(w("kpi.unranked", { n: unranked.length }))}</li>` + unranked.map((r) =>
        `<li data-code="${esc(r.code)}" tabindex="0"><span class="name">${esc(r.name)}</span>`
        + `<small>${esc(w("kpi.n", { n: r.valid_callbacks }))}</small></li>`).join("")
      : "";
    if (!ranked.length) {
      chart.clear();
      chart.setOption(emptyOption(w(this.rows.length ? "kpi.none_ranked" : "kpi.nodata")));
      return;
    }
    const shown = 12;
    chart.setOption({
      animation: false,
      grid: { left: 8, right: ranked.length > shown ? 84 : 68, top: 6, bottom: 6, containLabel: true },
      tooltip: {
        trigger: "axis", axisPointer: { type: "shadow" },
        formatter: (items) => {
          const r = ranked[items[0].dataIndex];
          return `<b>${esc(r.name)}</b><br>${esc(w("kpi.composite"))}: ${(r.composite * 100).toFixed(1)}`
            + ` (${esc(w("kpi.n", { n: r.valid_callbacks }))})`
            + RATES.map((rate) => `<br>${esc(w(`kpi.${rate}`))}: ${esc(rateWithN(r, rate))}`).join("")
            + `<br><i>${esc(w("kpi.click_unit"))}</i>`;
        },
      },
      xAxis: { type: "value", min: 0, max: 100, axisLabel: { color: TEXT }, splitLine: { lineStyle: { color: GRID_LINE } } },
      yAxis: { type: "category", inverse: true, data: ranked.map((r) => r.name),
               axisLabel: { color: TEXT, fontSize: 12 }, axisLine: { lineStyle: { color: GRID_LINE } } },
      dataZoom: ranked.length > shown
        ? [{ type: "inside", yAxisIndex: 0, startValue: 0, endValue: shown - 1, zoomLock: true },
           { type: "slider", yAxisIndex: 0, startValue: 0, endValue: shown - 1, width: 12, right: 4, showDetail: false,
             textStyle: { color: TEXT }, borderColor: GRID_LINE, fillerColor: "rgba(79,163,209,0.35)" }]
        : [],
      series: [{
        type: "bar", barMaxWidth: 16, cursor: "pointer",
        data: ranked.map((r) => ({ value: +(r.composite * 100).toFixed(1), itemStyle: { color: scoreColour(r.composite) } })),
        label: { show: true, position: "right", color: TEXT, fontSize: 11,
                 formatter: (p) => `${p.value}  ${w("kpi.n", { n: ranked[p.dataIndex].valid_callbacks })}` },
      }],
    }, true);
  }

  renderBoards() {
    const ranked = this.ranked();
    const item = (r) => `<li data-code="${esc(r.code)}" tabindex="0"><span class="rank">${r.rank}</span><span class="name">${esc(r.name)}</span>`
      + `<b>${(r.composite * 100).toFixed(1)}</b><small class="n">${esc(w("kpi.n", { n: r.valid_callbacks }))}</small></li>`;
    const empty = `<li class="empty">${esc(w(this.rows.length ? "kpi.none_ranked" : "kpi.nodata"))}</li>`;
    // Best five and worst five; with fewer than ten ranked townships, the better half and the worse half.
    const split = Math.min(5, Math.ceil(ranked.length / 2));
    const top = ranked.slice(0, split);
    const bottom = ranked.slice(Math.max(split, ranked.length - 5)).reverse();
    this.els.red.innerHTML = top.length ? top.map(item).join("") : empty;
    this.els.black.innerHTML = bottom.length ? bottom.map(item).join("")
      : (top.length ? `<li class="empty">${esc(w("kpi.board_few"))}</li>` : empty);
  }

  /** The cases of a township (GET /api/v1/cases?area=), newest first. */
  async openUnit(code) {
    const row = (this.rows || []).find((r) => r.code === code);
    this.unit = { code, name: row ? row.name : code, cases: null };
    this.renderUnitCases();
    try {
      const body = await this.api.get("/api/v1/cases", { area: code, limit: UNIT_CASES });
      if (this.unit && this.unit.code === code) this.unit.cases = body.cases;
    } catch (err) {
      if (this.toast) this.toast(err.describe ? err.describe() : String(err), "error");
      this.unit = null;
    }
    this.renderUnitCases();
    this.els.unitCases.scrollIntoView({ block: "nearest" });
  }

  renderUnitCases() {
    const el = this.els.unitCases;
    const unit = this.unit;
    el.dataset.code = unit ? unit.code : "";
    if (!unit) { el.innerHTML = `<p class="muted small">${esc(w("kpi.click_unit"))}</p>`; return; }
    const head = `<h3>${esc(w("kpi.unit_cases", { name: unit.name }))}<button type="button" class="close"`
      + ` aria-label="${esc(w("kpi.close"))}">×</button></h3>`;
    if (!unit.cases) { el.innerHTML = head + `<p class="muted small">…</p>`; return; }
    const list = unit.cases.length
      ? `<ul class="unit-cases">${unit.cases.map((c) => `<li data-case-id="${esc(c.case_id)}" tabindex="0">`
        + `<span class="title">${esc(caseLabel(c))}</span><span class="state">${esc(stateName(c.state))}</span>`
        + `<span class="sub">${esc((c.report || {}).ticket_no || "")}</span></li>`).join("")}</ul>`
        + (unit.cases.length >= UNIT_CASES ? `<p class="muted small">${esc(w("kpi.unit_more", { n: UNIT_CASES }))}</p>` : "")
      : `<p class="muted small">${esc(w("kpi.unit_none"))}</p>`;
    el.innerHTML = head + list;
  }

  renderHeat() {
    const chart = this.charts.heat;
    const rows = this.hot || [];
    if (!rows.length) {
      this.els.heat.dataset.cells = "0";
      chart.clear();
      chart.setOption(emptyOption(w("kpi.heat_nodata")));
      return;
    }
    const counties = [...new Map(rows.map((r) => [r.code, r.name])).entries()].sort((a, b) => a[0].localeCompare(b[0]));
    const totals = new Map();
    for (const r of rows) totals.set(r.category, (totals.get(r.category) || 0) + r.cases);
    const categories = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a)).slice(0, 14);
    // In the console's language when the category tree knows the code (the rows carry the Chinese name).
    const label = (r) => (categoryLabel(r.category) !== r.category ? categoryLabel(r.category) : r.category_name || r.category);
    const names = new Map(rows.map((r) => [r.category, label(r)]));
    const data = [];
    let max = 1;
    for (const r of rows) {
      const x = counties.findIndex(([code]) => code === r.code);
      const y = categories.indexOf(r.category);
      if (x < 0 || y < 0) continue;
      data.push([x, y, r.cases]);
      max = Math.max(max, r.cases);
    }
    this.els.heat.dataset.cells = String(data.length);
    chart.setOption({
      animation: false,
      grid: { left: 6, right: 8, top: 6, bottom: 44, containLabel: true },
      tooltip: { formatter: (p) => `${esc(counties[p.value[0]][1])} · ${esc(names.get(categories[p.value[1]]))}<br><b>${p.value[2]}</b> ${esc(w("kpi.cases"))}` },
      xAxis: { type: "category", data: counties.map(([, name]) => name), axisLabel: { color: TEXT, rotate: 40, fontSize: 11, interval: 0 },
               splitArea: { show: true, areaStyle: { color: ["rgba(255,255,255,0.02)", "rgba(255,255,255,0.05)"] } } },
      yAxis: { type: "category", data: categories.map((c) => names.get(c)), axisLabel: { color: TEXT, fontSize: 11 } },
      visualMap: { min: 0, max, calculable: false, text: [String(max), "0"], orient: "horizontal", left: "center", bottom: 0, itemHeight: 90, itemWidth: 10,
                   textStyle: { color: TEXT }, inRange: { color: ["#12324a", "#2f7de1", "#e6a117", "#d23c3c"] } },
      series: [{ type: "heatmap", data, label: { show: true, color: "#fff", fontSize: 10 },
                 emphasis: { itemStyle: { borderColor: "#fff", borderWidth: 1 } } }],
    }, true);
  }

  relabel() {
    this.renderNumbers();
    if (this.visible) this.render();
  }
}

function scoreColour(v) {
  if (v >= 0.9) return "#2e9d57";
  if (v >= 0.8) return "#7cb342";
  if (v >= 0.7) return "#e6a117";
  return "#d23c3c";
}

function emptyOption(text) {
  return { title: { text, left: "center", top: "middle", textStyle: { color: "#7f97ad", fontSize: 13, fontWeight: "normal" } } };
}
