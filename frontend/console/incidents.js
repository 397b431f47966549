// The incident board (应急事件, 平急转换): declare an emergency incident, list the active ones, and a board per
// incident with its cases on a map and in a list (state colours), the directives sent under it, the units'
// responses (signed / resolved and how fast), a timeline, and — once closed — its review report (复盘).
// Incidents arrive live in the console feed (`onIncidents`); the board's cases are read from the API.

import { STATE_COLOURS } from "/static/shared/cases.js";
import { formatTime, lang, stateName } from "/static/shared/i18n.js";
import { caseLabel, w, wv } from "./words.js";

const KINDS = ["flood", "typhoon", "rainstorm", "earthquake", "geological", "fire", "accident", "hazmat",
  "public_health", "mass_event", "other"];
const LEVELS = ["I", "II", "III", "IV"];
const DECLARERS = ["admin", "city_operator", "county_dispatcher"];

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]));
const median = (xs) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const minutes = (s) => (s === null ? "—" : w("incident.minutes", { n: (s / 60).toFixed(s < 600 ? 1 : 0) }));
const since = (c, field) => (c[field] && c.dispatched_at ? (Date.parse(c[field]) - Date.parse(c.dispatched_at)) / 1000 : null);

export class IncidentBoard {
  /** @param {{el: HTMLElement, api: object, config: object, toast: Function, onCase: Function,
   *           onCount: Function}} opts */
  constructor(opts) {
    Object.assign(this, opts);
    this.incidents = new Map(); // incident_id → the incident as the API shows it (highest version kept)
    this.openId = null;
    this.cases = [];
    this.directives = null; // null: not loaded yet
    this.map = null;
    this.canDeclare = DECLARERS.includes(opts.config.user.role);
    this.formOpen = false;
    this.el.addEventListener("click", (ev) => this.click(ev));
    this.el.addEventListener("submit", (ev) => this.submit(ev));
    this.render();
  }

  /** Incidents from the snapshot (replacing) or the live feed (frames: newer versions win). */
  update(incidents, frames) {
    if (!frames.length) this.incidents.clear();
    for (const inc of incidents) {
      const known = this.incidents.get(inc.incident_id);
      if (!known || (inc.version ?? 0) >= (known.version ?? 0)) this.incidents.set(inc.incident_id, inc);
    }
    if (this.openId && incidents.some((i) => i.incident_id === this.openId)) this.loadBoard();
    else this.render();
  }

  active() { return [...this.incidents.values()].filter((i) => i.state === "active"); }

  async open(id) {
    this.openId = id;
    this.cases = [];
    this.directives = null;
    this.render();
    if (!this.incidents.has(id)) {
      try { this.incidents.set(id, await this.api.get(`/api/v1/incidents/${id}`)); } catch (err) { this.fail(err); }
    }
    await this.loadBoard();
  }

  async loadBoard() {
    const id = this.openId;
    if (!id) return;
    try {
      const [incident, body] = await Promise.all([this.api.get(`/api/v1/incidents/${id}`),
        this.api.get(`/api/v1/incidents/${id}/cases`)]);
      if (id !== this.openId) return;
      this.incidents.set(id, incident);
      this.cases = body.cases;
    } catch (err) { this.fail(err); }
    try {
      const body = await this.api.get("/api/v1/directives", { incident: id });
      this.directives = body.directives || [];
    } catch (err) {
      this.directives = [];
      this.fail(err);
    }
    this.render();
  }

  fail(err) { this.toast(err.describe ? err.describe() : String(err), "error"); }

  // --- rendering -------------------------------------------------------------------------------------

  render() {
    const parts = [];
    const active = this.active();
    this.onCount(active.length);
    parts.push(`<div class="incident-head"><h3>${esc(w("incident.active"))} <span class="muted" data-field="incident-count">${active.length}</span></h3>`
      + (this.canDeclare ? `<button type="button" data-do="declare" class="small">${esc(w("incident.declare"))}</button>` : "")
      + "</div>");
    if (this.formOpen) parts.push(this.formHtml());
    parts.push(active.length ? `<ol class="list incident-list">${active.map((i) => this.rowHtml(i)).join("")}</ol>`
      : `<p class="muted">${esc(w("incident.none"))}</p>`);
    const incident = this.openId && this.incidents.get(this.openId);
    if (incident) parts.push(this.boardHtml(incident));
    this.el.innerHTML = parts.join("");
    if (incident) this.drawMap();
  }

  rowHtml(i) {
    return `<li data-incident="${esc(i.incident_id)}" class="${i.incident_id === this.openId ? "selected" : ""}">`
      + `<button type="button" class="linkish" data-do="open" data-id="${esc(i.incident_id)}">`
      + `<span class="badge level-${esc(i.level)}">${esc(w(`incident.level.${i.level}`))}</span> `
      + `${esc(i.title)} <span class="muted">${esc(w(`incident.kind.${i.kind}`))} · ${esc(w("incident.linked", { n: i.linked ?? 0 }))}</span></button></li>`;
  }

  formHtml() {
    const en = lang() === "en";
    const groups = new Map();
    for (const c of this.config.categories) {
      const code = String(c.code).slice(0, 2);
      if (!groups.has(code)) groups.set(code, en ? c.group_en || c.group : c.group);
    }
    const categories = [...groups].map(([code, name]) => `<option value="${esc(code)}">${esc(name)}</option>`).join("")
      + this.config.categories.map((c) => `<option value="${esc(c.code)}">${esc(en ? `${c.group_en || c.group} · ${c.name_en || c.name}` : `${c.group} · ${c.name}`)}</option>`).join("");
    return `<form class="incident-form" data-form="declare">
      <label>${esc(w("incident.title"))}<input name="title" required maxlength="200"></label>
      <label>${esc(w("incident.kind"))}<select name="kind">${KINDS.map((k) => `<option value="${k}">${esc(w(`incident.kind.${k}`))}</option>`).join("")}</select></label>
      <label>${esc(w("incident.level"))}<select name="level">${LEVELS.map((l) => `<option value="${l}">${esc(w(`incident.level.${l}`))}</option>`).join("")}</select></label>
      <label>${esc(w("incident.areas"))}<input name="areas" required placeholder="450103" value="${esc(this.config.user.area || "")}"></label>
      <label>${esc(w("incident.categories"))}<select name="categories" multiple size="5">${categories}</select></label>
      <p class="muted small">${esc(w("incident.form_hint"))}</p>
      <div class="actions"><button type="submit">${esc(w("incident.submit"))}</button>
      <button type="button" class="ghost" data-do="cancel">${esc(w("case.close"))}</button></div>
      <p class="error" data-field="form-error"></p></form>`;
  }

  boardHtml(i) {
    const closed = i.state === "closed";
    const parts = [`<section class="incident-board" data-board="${esc(i.incident_id)}">`,
      `<h3><span class="badge level-${esc(i.level)}">${esc(w(`incident.level.${i.level}`))}</span> ${esc(i.title)}`
      + ` <span class="muted" data-field="incident-state">${esc(w(`incident.state.${i.state}`))}</span></h3>`,
      `<p class="muted small">${esc(w(`incident.kind.${i.kind}`))} · ${esc((i.areas || []).map((a) => a.name || a.code).join("、"))}`
      + ` · ${esc((i.categories || []).map((c) => (lang() === "en" && c.name_en) || c.name).join("、") || w("incident.all_categories"))}</p>`];
    if (this.canDeclare && !closed) {
      parts.push(`<div class="incident-actions">
        <button type="button" class="small" data-do="link-open">${esc(w("incident.link_open"))}</button>
        <select data-field="new-level">${LEVELS.map((l) => `<option value="${l}"${l === i.level ? " selected" : ""}>${esc(w(`incident.level.${l}`))}</option>`).join("")}</select>
        <button type="button" class="small" data-do="level">${esc(w("incident.set_level"))}</button>
        <form data-form="close" class="incident-close"><input name="summary" required maxlength="4000" placeholder="${esc(w("incident.summary"))}">
        <button type="submit" class="small danger">${esc(w("incident.close"))}</button></form></div>`);
    }
    if (closed) {
      parts.push(`<p><button type="button" class="small" data-do="review">${esc(w("incident.review"))}</button>`
        + ` <span class="muted small">${esc(i.summary || "")}</span></p>`);
    }
    parts.push(`<div class="incident-map" data-field="incident-map"></div>`);
    parts.push(`<h4>${esc(w("incident.cases", { n: this.cases.length }))}</h4><ol class="list incident-cases">`
      + this.cases.map((c) => `<li data-case="${esc(c.case_id)}" data-state="${esc(c.state)}">`
        + `<i class="dot" style="background:${STATE_COLOURS[c.state] || "#8c8c8c"}"></i>`
        + `<button type="button" class="linkish" data-do="case" data-id="${esc(c.case_id)}">${esc(caseLabel(c))}</button>`
        + ` <span class="muted">${esc(stateName(c.state))} · ${esc(wv("incident.how", c.link.how))}</span></li>`).join("")
      + "</ol>");
    parts.push(this.unitsHtml(), this.directivesHtml(), this.timelineHtml(i), "</section>");
    return parts.join("");
  }

  unitsHtml() {
    const units = new Map();
    for (const c of this.cases) {
      const lead = (c.units && c.units.lead) || { code: "?", name: "?" };
      const u = units.get(lead.code) || { name: lead.name, cases: 0, sign: [], resolve: [] };
      u.cases += 1;
      if (since(c, "accepted_at") !== null) u.sign.push(since(c, "accepted_at"));
      if (since(c, "resolved_at") !== null) u.resolve.push(since(c, "resolved_at"));
      units.set(lead.code, u);
    }
    const rows = [...units].map(([code, u]) => `<tr data-unit="${esc(code)}"><td>${esc(u.name)}</td><td>${u.cases}</td>`
      + `<td>${u.sign.length}</td><td>${esc(minutes(median(u.sign)))}</td><td>${u.resolve.length}</td>`
      + `<td>${esc(minutes(median(u.resolve)))}</td></tr>`).join("");
    return `<h4>${esc(w("incident.units"))}</h4><table class="incident-units"><thead><tr><th>${esc(w("incident.unit"))}</th>`
      + `<th>${esc(w("incident.n_cases"))}</th><th>${esc(w("incident.signed"))}</th><th>${esc(w("incident.sign_p50"))}</th>`
      + `<th>${esc(w("incident.resolved"))}</th><th>${esc(w("incident.resolve_p50"))}</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  directivesHtml() {
    const head = `<h4>${esc(w("incident.directives"))}</h4>`;
    if (this.directives === null) return `${head}<p class="muted small">…</p>`;
    if (!this.directives.length) return `${head}<p class="muted small" data-field="directives-none">${esc(w("incident.directives_none"))}</p>`;
    return head + `<ol class="list">${this.directives.map((d) => `<li>${esc(d.title)} <span class="muted">`
      + `${esc(w("incident.directive_progress", { n: d.acknowledged ?? 0, total: d.total ?? 0 }))}</span></li>`).join("")}</ol>`;
  }

  timelineHtml(i) {
    const items = [{ at: i.declared_at, text: w("incident.t_declared", { who: (i.declared_by || {}).name || "", level: i.level }) }];
    for (const step of (i.levels || []).slice(1)) items.push({ at: step.at, text: w("incident.t_level", { level: step.level }) });
    for (const c of this.cases) {
      items.push({ at: c.link.at, text: `${w("incident.t_linked")} · ${caseLabel(c)}` });
      if (c.resolved_at) items.push({ at: c.resolved_at, text: `${w("incident.t_resolved")} · ${caseLabel(c)}` });
    }
    if (i.closed_at) items.push({ at: i.closed_at, text: w("incident.t_closed", { who: (i.closed_by || {}).name || "" }) });
    items.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
    return `<h4>${esc(w("incident.timeline"))}</h4><ol class="list timeline incident-timeline">`
      + items.slice(0, 200).map((x) => `<li><span class="muted">${esc(formatTime(x.at))}</span> ${esc(x.text)}</li>`).join("") + "</ol>";
  }

  drawMap() {
    const box = this.el.querySelector("[data-field=incident-map]");
    if (!box || typeof L === "undefined") return;
    if (this.map) this.map.remove();
    this.map = L.map(box, { attributionControl: false, zoomControl: false });
    const points = [];
    for (const c of this.cases) {
      if (!c.location) continue;
      const ll = [c.location.lat, c.location.lng];
      points.push(ll);
      L.circleMarker(ll, { radius: 6, color: "#fff", weight: 1, fillOpacity: 0.9, fillColor: STATE_COLOURS[c.state] || "#8c8c8c" })
        .addTo(this.map).on("click", () => this.onCase(c.case_id));
    }
    if (points.length) this.map.fitBounds(points, { padding: [16, 16], maxZoom: 15 });
    else this.map.setView([22.82, 108.37], 9);
    // The incident's areas as outlines under the markers (the boundaries alone make the map readable).
    const map = this.map;
    const incident = this.incidents.get(this.openId);
    for (const area of (incident && incident.areas) || []) {
      if (area.level === "city") continue;
      this.outline(area.code).then((shape) => {
        if (shape && map === this.map) {
          const layer = L.geoJSON(shape, { style: { color: "#e0a030", weight: 2, fill: false }, interactive: false }).addTo(map);
          layer.bringToBack();
          if (!points.length) map.fitBounds(layer.getBounds(), { padding: [8, 8] });
        }
      });
    }
  }

  async outline(code) {
    this.shapes = this.shapes || new Map();
    if (!this.shapes.has(code)) {
      this.shapes.set(code, this.api.get(`/api/v1/areas/${encodeURIComponent(code)}`).catch(() => null));
    }
    return this.shapes.get(code);
  }

  // --- actions ---------------------------------------------------------------------------------------

  async click(ev) {
    const el = ev.target.closest("[data-do]");
    if (!el) return;
    const what = el.dataset.do;
    if (what === "declare") { this.formOpen = !this.formOpen; this.render(); return; }
    if (what === "cancel") { this.formOpen = false; this.render(); return; }
    if (what === "open") { await this.open(el.dataset.id); return; }
    if (what === "case") { this.onCase(el.dataset.id); return; }
    const id = this.openId;
    try {
      if (what === "link-open") {
        const body = await this.api.post(`/api/v1/incidents/${id}/link`, { open: true });
        this.toast(w("incident.linked_now", { n: body.linked.length }));
      } else if (what === "level") {
        const level = this.el.querySelector("[data-field=new-level]").value;
        await this.api.post(`/api/v1/incidents/${id}/level`, { level });
      } else if (what === "review") {
        const url = await this.api.fileUrl(`/api/v1/incidents/${id}/review.xlsx`);
        const a = Object.assign(document.createElement("a"), { href: url, download: `incident-${id}-review.xlsx` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
        return;
      }
      await this.loadBoard();
    } catch (err) { this.fail(err); }
  }

  async submit(ev) {
    ev.preventDefault();
    const form = ev.target;
    try {
      if (form.dataset.form === "declare") {
        const body = {
          title: form.title.value.trim(), kind: form.kind.value, level: form.level.value,
          areas: form.areas.value.split(/[\s,，、]+/).filter(Boolean),
          categories: [...form.categories.selectedOptions].map((o) => o.value),
        };
        const made = await this.api.post("/api/v1/incidents", body);
        this.formOpen = false;
        this.incidents.set(made.incident_id, made.incident);
        this.toast(w("incident.declared", { title: body.title }));
        await this.open(made.incident_id);
      } else if (form.dataset.form === "close") {
        await this.api.post(`/api/v1/incidents/${this.openId}/close`, { summary: form.summary.value.trim() });
        await this.loadBoard();
      }
    } catch (err) {
      const box = form.querySelector("[data-field=form-error]");
      if (box) box.textContent = err.describe ? err.describe() : String(err); else this.fail(err);
    }
  }

  relabel() { this.render(); }
}
