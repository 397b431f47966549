// The analysis tab (研判分析, issue 17): every figure is the server's (GET /api/v1/analysis/*), drawn with ECharts
// like the KPI tab. Volumes by area this period against the previous one (a click on an area drills into it),
// the handling funnel with the slowest steps per unit (p50/p90) and the longest waits now, returns and redos by
// reason, repeat complaints (click one for its cases), and the daily trend with its forecast band. Each section
// exports as CSV or XLSX (the server writes the file; headers in the console's language).

import { esc, lang, stateName } from "/static/shared/i18n.js";
import { w, wv } from "./words.js";

const TEXT = "#cfe3f5";
const GRID_LINE = "#22384d";
const CITY = "450100";
const TREND_DAYS = 90;
const SHOWN = 8; // rows of the slowest-steps and waiting tables
const COLOURS = { now: "#4fa3d1", before: "#51657a", forecast: "#e6a117", band: "rgba(230,161,23,0.25)" };

/** The local (Asia/Shanghai) date `days` days before today. */
function localDay(daysBack = 0) {
  return new Date(Date.now() + 8 * 3600 * 1000 - daysBack * 86400000).toISOString().slice(0, 10);
}

const signed = (n) => (n > 0 ? `+${n}` : String(n));
const changeText = (r) => `${signed(r.change)}${r.change_pct === null ? "" : ` (${signed(r.change_pct)}%)`}`;
const hours = (h) => (typeof h === "number" ? w("analysis.hours", { h: h.toFixed(1) }) : "—");

export class AnalysisPanel {
  constructor({ api, root, toast, area, onCase }) {
    this.api = api;
    this.root = root;
    this.toast = toast;
    this.onCase = onCase;
    this.home = { code: area || CITY, name: null };
    this.path = [this.home]; // the drill-down: the user's area, then the areas clicked
    this.days = 30;
    this.period = "day";
    this.visible = false;
    this.charts = null;
    this.data = {};
    this.repeat = null; // the repeat complaint whose cases are listed
    this.els = Object.fromEntries(["crumbs", "days", "period", "total", "volumes", "funnel", "slowest", "waiting",
      "returns", "repeats", "repeatCases", "trend"].map((k) => [k, root.querySelector(`[data-a="${k}"]`)]));
    this.els.days.addEventListener("change", () => { this.days = Number(this.els.days.value); this.refresh(); });
    this.els.period.addEventListener("change", () => { this.period = this.els.period.value; this.refresh(); });
    this.els.crumbs.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-depth]");
      if (b) { this.path = this.path.slice(0, Number(b.dataset.depth) + 1); this.refresh(); }
    });
    root.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-export]");
      if (b) this.export(b.dataset.export, b.dataset.format);
    });
    this.els.repeats.addEventListener("click", (ev) => {
      const li = ev.target.closest("li[data-index]");
      if (li) { this.repeat = this.data.repeats.candidates[Number(li.dataset.index)]; this.renderRepeatCases(); }
    });
    this.els.repeatCases.addEventListener("click", (ev) => {
      if (ev.target.closest("button.close")) { this.repeat = null; this.renderRepeatCases(); return; }
      const li = ev.target.closest("li[data-case-id]");
      if (li) this.onCase(li.dataset.caseId);
    });
  }

  get area() { return this.path[this.path.length - 1].code; }

  /** The query every section shares: the range and the area drilled into. */
  params() { return { from: localDay(this.days - 1), to: localDay(0), area: this.area }; }

  show() {
    this.visible = true;
    if (!this.charts) {
      const chart = (k) => window.echarts.init(this.els[k]);
      this.charts = { volumes: chart("volumes"), funnel: chart("funnel"), returns: chart("returns"), trend: chart("trend") };
      // A click anywhere in an area's column drills into it (both its bars, and the gap between them).
      const volumes = this.charts.volumes;
      volumes.getZr().on("click", (ev) => {
        const at = [ev.offsetX, ev.offsetY];
        if (volumes.containPixel("grid", at)) this.drill(volumes.convertFromPixel({ seriesIndex: 0 }, at)[0]);
      });
    }
    this.resize();
    return this.refresh();
  }

  hide() { this.visible = false; }

  resize() { if (this.charts) Object.values(this.charts).forEach((c) => c.resize()); }

  /** Into the area of the clicked bar, unless it is a grid (the last level). */
  drill(index) {
    const row = (this.data.volumes ? this.data.volumes.totals.filter((r) => r.area_code) : [])[index];
    if (!row || !row.area_code || this.data.volumes.level === "grid") return;
    this.path = [...this.path, { code: row.area_code, name: row.area_name || row.area_code }];
    this.refresh();
  }

  async refresh() {
    const p = this.params();
    const tr = { area: this.area, from: localDay(TREND_DAYS - 1), to: localDay(0) };
    try {
      const [volumes, funnel, returns, repeats, trend] = await Promise.all([
        this.api.get("/api/v1/analysis/volumes", { ...p, period: this.period, by: "area", lang: lang() }),
        this.api.get("/api/v1/analysis/funnel", p),
        this.api.get("/api/v1/analysis/returns", p),
        this.api.get("/api/v1/analysis/repeats", { ...p, lang: lang() }),
        this.api.get("/api/v1/analysis/trend", { ...tr, lang: lang() }),
      ]);
      this.data = { volumes, funnel, returns, repeats, trend };
      this.path[this.path.length - 1].name = volumes.area.name;
      this.repeat = null;
    } catch (err) {
      if (this.toast) this.toast(err.describe ? err.describe() : String(err), "error");
      return;
    }
    if (this.visible) this.render();
  }

  render() {
    if (!this.charts || !this.data.volumes) return;
    this.renderCrumbs();
    this.renderVolumes();
    this.renderFunnel();
    this.renderReturns();
    this.renderRepeats();
    this.renderRepeatCases();
    this.renderTrend();
  }

  renderCrumbs() {
    this.els.crumbs.innerHTML = this.path.map((a, i) => (i === this.path.length - 1
      ? `<span class="crumb current">${esc(a.name || a.code)}</span>`
      : `<button type="button" class="crumb" data-depth="${i}">${esc(a.name || a.code)}</button><span class="sep">›</span>`)).join("");
  }

  renderVolumes() {
    const v = this.data.volumes;
    const rows = v.totals.filter((r) => r.area_code);
    this.els.volumes.dataset.level = v.level;
    this.els.volumes.dataset.total = String(v.total.count);
    this.els.total.innerHTML = `${esc(w("analysis.this_period"))} <b data-count>${v.total.count}</b> · `
      + `${esc(w("analysis.previous"))} <b>${v.total.previous}</b> · ${esc(w("analysis.change"))} `
      + `<b class="${v.total.change > 0 ? "up" : v.total.change < 0 ? "down" : ""}" data-change>${esc(changeText(v.total))}</b>`;
    const chart = this.charts.volumes;
    if (!rows.length) { chart.clear(); chart.setOption(emptyOption(w("analysis.nodata"))); return; }
    chart.setOption({
      animation: false,
      color: [COLOURS.now, COLOURS.before],
      legend: { top: 0, textStyle: { color: TEXT, fontSize: 11 }, itemWidth: 14, itemHeight: 8 },
      grid: { left: 6, right: 10, top: 26, bottom: 4, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: (items) => {
        const r = rows[items[0].dataIndex];
        return `<b>${esc(r.area_name || r.area_code)}</b><br>${esc(w("analysis.this_period"))}: ${r.count}`
          + `<br>${esc(w("analysis.previous"))}: ${r.previous}<br>${esc(w("analysis.change"))}: ${esc(changeText(r))}`
          + (v.level !== "grid" ? `<br><i>${esc(w("analysis.drill_hint"))}</i>` : "");
      } },
      xAxis: { type: "category", data: rows.map((r) => r.area_name || r.area_code),
               axisLabel: { color: TEXT, rotate: rows.length > 6 ? 40 : 0, fontSize: 11, interval: 0 } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { color: TEXT }, splitLine: { lineStyle: { color: GRID_LINE } } },
      series: [
        { name: w("analysis.this_period"), type: "bar", cursor: "pointer", data: rows.map((r) => r.count),
          label: { show: true, position: "top", color: TEXT, fontSize: 10, formatter: (p) => changeText(rows[p.dataIndex]) } },
        { name: w("analysis.previous"), type: "bar", cursor: "pointer", data: rows.map((r) => r.previous) },
      ],
    }, true);
  }

  renderFunnel() {
    const f = this.data.funnel;
    this.els.funnel.dataset.received = String(f.stages[0].cases);
    this.charts.funnel.setOption({
      animation: false,
      color: ["#2f7de1", "#3f8fd6", "#4fa3d1", "#5bb3b0", "#6cbf8a", "#2e9d57"],
      tooltip: { formatter: (p) => `${esc(p.name)}: <b>${p.value}</b>` },
      series: [{ type: "funnel", sort: "none", left: 10, right: 10, top: 6, bottom: 6, minSize: "18%", gap: 2,
                 label: { color: "#fff", position: "inside", formatter: (p) => `${p.name} ${p.value}` },
                 data: f.stages.map((s) => ({ name: w(`analysis.stage.${s.stage}`), value: s.cases })) }],
    }, true);
    const step = (r) => `<td>${esc(w(`analysis.step.${r.step}`))}</td><td>${esc(r.unit_name || r.unit_code || "—")}</td>`;
    this.els.slowest.innerHTML = f.slowest.length
      ? `<tr><th>${esc(w("analysis.step"))}</th><th>${esc(w("analysis.unit"))}</th><th>n</th><th>p50</th><th>p90</th></tr>`
        + f.slowest.slice(0, SHOWN).map((r) => `<tr data-step="${esc(r.step)}" data-unit="${esc(r.unit_code)}">${step(r)}`
          + `<td>${r.n}</td><td>${esc(hours(r.p50_hours))}</td><td data-p90>${esc(hours(r.p90_hours))}</td></tr>`).join("")
      : `<tr><td class="muted">${esc(w("analysis.nodata"))}</td></tr>`;
    this.els.waiting.innerHTML = f.waiting.length
      ? `<tr><th>${esc(w("analysis.step"))}</th><th>${esc(w("analysis.unit"))}</th><th>${esc(w("analysis.cases"))}</th>`
        + `<th>${esc(w("analysis.oldest"))}</th></tr>`
        + f.waiting.slice(0, SHOWN).map((r) => `<tr>${step(r)}<td>${r.cases}</td><td>${esc(hours(r.oldest_hours))}</td></tr>`).join("")
      : `<tr><td class="muted">${esc(w("analysis.none_waiting"))}</td></tr>`;
  }

  renderReturns() {
    const r = this.data.returns;
    const chart = this.charts.returns;
    this.els.returns.dataset.rows = String(r.reasons.length);
    if (!r.reasons.length) { chart.clear(); chart.setOption(emptyOption(w("analysis.no_returns"))); return; }
    chart.setOption({
      animation: false,
      grid: { left: 6, right: 30, top: 6, bottom: 4, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", minInterval: 1, axisLabel: { color: TEXT }, splitLine: { lineStyle: { color: GRID_LINE } } },
      yAxis: { type: "category", inverse: true, axisLabel: { color: TEXT, fontSize: 11 },
               data: r.reasons.map((x) => `${w(`analysis.kind.${x.kind}`)} · ${wv("analysis.reason", x.reason)}`) },
      series: [{ type: "bar", barMaxWidth: 14, label: { show: true, position: "right", color: TEXT },
                 data: r.reasons.map((x) => ({ value: x.count, itemStyle: { color: x.kind === "return" ? "#b58ce0" : "#d86a6a" } })) }],
    }, true);
  }

  renderRepeats() {
    const list = this.data.repeats.candidates;
    this.els.repeats.dataset.count = String(list.length);
    this.els.repeats.innerHTML = list.length
      ? list.map((c, i) => `<li data-index="${i}" tabindex="0"><span class="title">${esc(c.category_name || c.category_code)}`
        + ` · ${esc(c.area_name || c.address || "")}</span><b>${esc(w("analysis.times", { n: c.reports, cases: c.problems }))}</b>`
        + `<span class="sub">${esc(c.first_reported_at.slice(0, 10))} → ${esc(c.last_reported_at.slice(0, 10))}</span></li>`).join("")
      : `<li class="empty muted">${esc(w("analysis.no_repeats"))}</li>`;
  }

  renderRepeatCases() {
    const el = this.els.repeatCases;
    const c = this.repeat;
    if (!c) { el.innerHTML = ""; return; }
    el.innerHTML = `<h3>${esc(w("analysis.repeat_cases", { name: c.category_name || c.category_code }))}`
      + `<button type="button" class="close" aria-label="${esc(w("kpi.close"))}">×</button></h3>`
      + `<ul class="unit-cases">${c.cases.map((x) => `<li data-case-id="${esc(x.case_id)}" tabindex="0">`
        + `<span class="title">${esc(x.ticket_no || x.case_id.slice(0, 8))}</span><span class="state">${esc(stateName(x.state))}</span>`
        + `<span class="sub">${esc(x.reported_at.slice(0, 16).replace("T", " "))}</span></li>`).join("")}</ul>`;
  }

  renderTrend() {
    const t = this.data.trend;
    const band = t.forecast.days;
    const days = [...t.days.map((d) => d.day), ...band.map((d) => d.day)];
    const pad = (n) => Array(n).fill(null);
    this.els.trend.dataset.forecast = String(band.length);
    this.charts.trend.setOption({
      animation: false,
      color: [COLOURS.now, COLOURS.forecast],
      legend: { top: 0, textStyle: { color: TEXT, fontSize: 11 }, itemWidth: 14, itemHeight: 8,
                data: [w("analysis.daily"), w("analysis.forecast")] },
      grid: { left: 6, right: 10, top: 26, bottom: 4, containLabel: true },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: days.map((d) => d.slice(5)), axisLabel: { color: TEXT, fontSize: 10 } },
      yAxis: { type: "value", min: 0, axisLabel: { color: TEXT }, splitLine: { lineStyle: { color: GRID_LINE } } },
      series: [
        { name: w("analysis.daily"), type: "line", symbolSize: 3, data: [...t.days.map((d) => d.count), ...pad(band.length)] },
        // The band: the lower bound, then the width stacked on it and filled.
        { name: "lower", type: "line", stack: "band", symbol: "none", lineStyle: { opacity: 0 }, tooltip: { show: false },
          data: [...pad(t.days.length), ...band.map((d) => d.lower)] },
        { name: w("analysis.band", { level: Math.round(t.forecast.level * 100) }), type: "line", stack: "band", symbol: "none",
          lineStyle: { opacity: 0 }, areaStyle: { color: COLOURS.band }, data: [...pad(t.days.length), ...band.map((d) => +(d.upper - d.lower).toFixed(2))] },
        { name: w("analysis.forecast"), type: "line", symbolSize: 3, lineStyle: { type: "dashed" },
          data: [...pad(t.days.length), ...band.map((d) => d.mean)] },
      ],
    }, true);
  }

  /** The server's file for one section (the bearer header rules out a plain link): saved under its name. */
  async export(name, format) {
    const params = name === "trend" ? { area: this.area, from: localDay(TREND_DAYS - 1), to: localDay(0) } : this.params();
    if (name === "volumes") params.period = this.period;
    try {
      const { blob, filename } = await this.api.download(`/api/v1/analysis/${name}.${format}`, { ...params, lang: lang() });
      const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: filename });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (err) {
      if (this.toast) this.toast(err.describe ? err.describe() : String(err), "error");
    }
  }

  relabel() { if (this.visible) this.refresh(); }
}

function emptyOption(text) {
  return { title: { text, left: "center", top: "middle", textStyle: { color: "#7f97ad", fontSize: 13, fontWeight: "normal" } } };
}
