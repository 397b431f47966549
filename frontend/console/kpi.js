// The KPI panel (考核指标): headline numbers from the live snapshot, the township ranking by composite
// score (ECharts), the red and black lists (红黑榜: best and worst five), and a category × county heat
// matrix of the last 30 days' cases (高频事项). Refreshed every minute while shown and when opened.

import { slaStatus } from "/static/shared/cases.js";
import { esc, formatTime } from "/static/shared/i18n.js";
import { w } from "./words.js";

const REFRESH_MS = 60000;
const TEXT = "#cfe3f5";
const GRID_LINE = "#22384d";

/** Headline numbers of the cases this console holds. */
export function headline(store, now = Date.now()) {
  const today = chinaDate(now);
  const n = { open: 0, overdue: 0, warning: 0, triage: 0, today: 0 };
  for (const c of store.values()) {
    if (c.created_at && chinaDate(Date.parse(c.created_at)) === today) n.today += 1;
    if (store.isFinished(c)) continue;
    n.open += 1;
    if (c.state === "triage") n.triage += 1;
    const s = slaStatus(c, now);
    if (s === "overdue") n.overdue += 1;
    else if (s === "warning") n.warning += 1;
  }
  return n;
}

export function headlineHtml(n) {
  const cell = (key, value, cls = "") => `<div class="num ${cls}" data-kpi="${key}"><b>${value}</b><span>${esc(w(`kpi.${key}`))}</span></div>`;
  return cell("open", n.open) + cell("overdue", n.overdue, n.overdue ? "bad" : "")
    + cell("warning", n.warning, n.warning ? "warn" : "") + cell("triage", n.triage) + cell("today", n.today);
}

function chinaDate(ms) { return new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 10); }

export class KpiPanel {
  constructor({ api, store, els, toast }) {
    this.api = api;
    this.store = store;
    this.els = els; // {numbers, ranking, red, black, heat, asof}
    this.toast = toast;
    this.visible = false;
    this.charts = null;
    this.rows = null;
    this.hot = null;
    this.timer = setInterval(() => { if (this.visible) this.refresh(); }, REFRESH_MS);
  }

  show() {
    this.visible = true;
    if (!this.charts) {
      this.charts = { ranking: window.echarts.init(this.els.ranking), heat: window.echarts.init(this.els.heat) };
    }
    this.resize();
    this.renderNumbers();
    this.render();
    return this.refresh();
  }

  hide() { this.visible = false; }

  resize() { if (this.charts) Object.values(this.charts).forEach((chart) => chart.resize()); }

  async refresh() {
    try {
      const [kpis, hot] = await Promise.all([
        this.api.get("/api/v1/kpis", { level: "township", period: "month" }),
        this.api.get("/api/v1/hotspots", { level: "county", days: 30 }),
      ]);
      const periods = kpis.rows.map((r) => r.period).sort();
      const latest = periods[periods.length - 1];
      this.rows = kpis.rows.filter((r) => r.period === latest);
      this.asOf = kpis.as_of;
      this.hot = hot.rows;
    } catch (err) {
      if (this.toast) this.toast(err.describe ? err.describe() : String(err), "error");
      return;
    }
    if (this.visible) this.render();
  }

  renderNumbers() {
    if (this.els.numbers) this.els.numbers.innerHTML = headlineHtml(headline(this.store));
  }

  render() {
    if (!this.charts || !this.rows) return;
    this.renderRanking();
    this.renderBoards();
    this.renderHeat();
    this.els.asof.textContent = this.asOf ? w("kpi.asof", { time: formatTime(this.asOf) }) : "";
  }

  ranked() {
    return this.rows.filter((r) => typeof r.composite === "number")
      .sort((a, b) => b.composite - a.composite || String(a.code).localeCompare(String(b.code)));
  }

  renderRanking() {
    const ranked = this.ranked();
    const chart = this.charts.ranking;
    this.els.ranking.dataset.rows = String(ranked.length);
    if (!ranked.length) {
      chart.clear();
      chart.setOption(emptyOption(w("kpi.nodata")));
      return;
    }
    const pct = (v) => (typeof v === "number" ? `${(v * 100).toFixed(1)}%` : "—");
    const shown = 12;
    chart.setOption({
      animation: false,
      grid: { left: 8, right: ranked.length > shown ? 56 : 40, top: 6, bottom: 6, containLabel: true },
      tooltip: {
        trigger: "axis", axisPointer: { type: "shadow" },
        formatter: (items) => {
          const r = ranked[items[0].dataIndex];
          return `<b>${esc(r.name)}</b><br>${esc(w("kpi.composite"))}: ${(r.composite * 100).toFixed(1)}`
            + `<br>${esc(w("kpi.response"))}: ${pct(r.response_rate)}<br>${esc(w("kpi.resolution"))}: ${pct(r.resolution_rate)}`
            + `<br>${esc(w("kpi.satisfaction"))}: ${pct(r.satisfaction_rate)}`;
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
        type: "bar", barMaxWidth: 16,
        data: ranked.map((r) => ({ value: +(r.composite * 100).toFixed(1), itemStyle: { color: scoreColour(r.composite) } })),
        label: { show: true, position: "right", color: TEXT, fontSize: 11 },
      }],
    }, true);
  }

  renderBoards() {
    const ranked = this.ranked();
    const item = (r, i) => `<li data-code="${esc(r.code)}"><span class="rank">${i + 1}</span><span class="name">${esc(r.name)}</span>`
      + `<b>${(r.composite * 100).toFixed(1)}</b></li>`;
    const empty = `<li class="empty">${esc(w("kpi.nodata"))}</li>`;
    // Best five and worst five; with fewer than ten ranked townships, the better half and the worse half.
    const split = Math.min(5, Math.ceil(ranked.length / 2));
    const top = ranked.slice(0, split);
    const bottom = ranked.slice(Math.max(split, ranked.length - 5)).reverse();
    this.els.red.innerHTML = top.length ? top.map(item).join("") : empty;
    this.els.black.innerHTML = bottom.length
      ? bottom.map((r) => item(r, ranked.indexOf(r))).join("") : empty;
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
    const names = new Map(rows.map((r) => [r.category, r.category_name || r.category]));
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
