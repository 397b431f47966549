// The case panel: everything about one case (deadlines with a live countdown, the routing rule, areas and
// units, the reporter as the server shows it to this user, content, photos, the full timeline) and the
// actions the server says this user may take now, each with a small inline form.
//
// Concurrency: a submit carries the version the user was looking at. While a form is open the panel does
// not silently reload under the user's hands; it says the case changed, and the server answers 409 if the
// change matters — then the panel reloads, says so, and keeps what the user typed for the retry.

import { activeDeadline, deadlineStates, slaStatus, STATE_COLOURS } from "/static/shared/cases.js";
import {
  actionName, actorText, categoryLabel, categoryPath, channelName, countdown, esc, explanationText, formatTime, ruleLabel, ruleName,
  sourceName, stateName, t,
} from "/static/shared/i18n.js";
import { officerHtml } from "/static/shared/duty.js";
import { canChoose, chooseCategory, pickerHtml, suggestionsHtml } from "./triage.js";
import { caseLabel, evName, w, wv } from "./words.js";

const RETURN_REASONS = ["not_our_remit", "wrong_area", "unclear_ownership"];
const SATISFACTION = ["satisfied", "basically_satisfied", "dissatisfied", "unreachable"];
const LEVELS = ["county", "township", "community", "grid"];
const RELOAD_DEBOUNCE_MS = 300;
// The city level of a case's area chain (cases routed by the hub carry it; triage cases have none yet).
const CITY = { code: "450100", name: "南宁市" };

// The fields of each action (dispatch/commands.py), in the order the form shows them.
const FORMS = {
  dispatch: [{ name: "area", kind: "area" }, { name: "unit", kind: "unit", label: "f.unit" },
             { name: "unit_name", kind: "text", optional: true, label: "f.unit_name" }],
  accept: [],
  return: [{ name: "reason", kind: "select", options: RETURN_REASONS, prefix: "ret", label: "f.reason" },
           { name: "note", kind: "textarea", label: "f.note" }],
  review_return: [{ name: "approve", kind: "bool", label: "f.approve" },
                  { name: "unit", kind: "unit", optional: true, label: "f.review_unit" }],
  request_extension: [{ name: "until", kind: "datetime", label: "f.until" },
                      { name: "reason", kind: "textarea", label: "f.reason" }],
  review_extension: [{ name: "approve", kind: "bool", label: "f.approve" }],
  progress: [{ name: "note", kind: "textarea", label: "f.note" }, { name: "photos", kind: "photos", optional: true, label: "f.photos" }],
  push_down: [{ name: "area", kind: "subarea", label: "f.area" }, { name: "unit", kind: "unit", label: "f.unit" }],
  resolve: [{ name: "note", kind: "textarea", label: "f.note" }],
  callback: [{ name: "contacted", kind: "yesno", label: "f.contacted" }, { name: "solved", kind: "yesno", label: "f.solved" },
             { name: "satisfaction", kind: "select", options: SATISFACTION, prefix: "sat", label: "f.satisfaction" }],
  supervise: [{ name: "note", kind: "textarea", label: "f.note" }],
  escalate: [],
  merge: [{ name: "into", kind: "text", label: "f.into" }],
  split: [],
  park: [{ name: "note", kind: "textarea", label: "f.note" }],
  reopen: [],
  reject: [{ name: "reason", kind: "textarea", label: "f.reason" }],
  comment: [{ name: "note", kind: "textarea", label: "f.note" }],
};

export class CasePanel {
  constructor({ el, api, store, config, toast, onSelect, onLocate }) {
    this.el = el;
    this.api = api;
    this.store = store;
    this.config = config;
    this.toast = toast;
    this.onSelect = onSelect || (() => {});
    this.onLocate = onLocate || (() => {});
    this.case = null;
    this.caseId = null;
    this.form = null; // {action, values} of the open form
    this.stale = false;
    this.photoUrls = new Map(); // photo id -> object URL (of the open case)
    this.reloadTimer = null;
    this.loadSeq = 0;
    this.areaCache = new Map();
    el.addEventListener("click", (ev) => this.click(ev));
    el.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(ev.target); });
    el.addEventListener("change", (ev) => this.change(ev));
    this.render();
  }

  // --- loading ----------------------------------------------------------------------------------------

  async open(id) {
    if (id !== this.caseId) {
      this.dropPhotos();
      this.case = null;
      this.form = null;
      this.stale = false;
      this.caseId = id;
      this.onSelect(id);
      this.render();
    }
    await this.reload();
  }

  async reload() {
    const id = this.caseId;
    if (!id) return;
    const seq = ++this.loadSeq;
    try {
      const c = await this.api.get(`/api/v1/cases/${encodeURIComponent(id)}`);
      if (seq !== this.loadSeq || id !== this.caseId) return;
      this.case = c;
      this.store.put(c);
      this.stale = false;
      this.error = null;
    } catch (err) {
      if (seq !== this.loadSeq || id !== this.caseId) return;
      this.error = err.describe ? err.describe() : String(err);
      if (this.case) this.toast(`${w("case.gone")}: ${this.error}`, "error");
    }
    this.render();
  }

  close() {
    this.dropPhotos();
    this.caseId = null;
    this.case = null;
    this.form = null;
    this.onSelect(null);
    this.render();
  }

  /** Live events touched these cases. */
  changed(ids) {
    if (!this.caseId || !ids.has(this.caseId)) return;
    const known = this.store.get(this.caseId);
    if (known && this.case && (known.version ?? 0) <= (this.case.version ?? 0)) return; // nothing newer (e.g. our own action)
    if (this.form) { // do not pull the case away from under a form being filled in
      if (!this.stale) { this.stale = true; this.renderStale(); }
      return;
    }
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload(), RELOAD_DEBOUNCE_MS);
  }

  // --- events -----------------------------------------------------------------------------------------

  click(ev) {
    const link = ev.target.closest("[data-open]");
    if (link) { ev.preventDefault(); this.open(link.dataset.open); return; }
    const target = ev.target.closest("[data-do]");
    if (!target) return;
    const what = target.dataset.do;
    if (what === "close") this.close();
    else if (what === "locate") this.onLocate(this.caseId);
    else if (what === "reload") { this.form = null; this.reload(); }
    else if (what === "action") this.openForm(target.dataset.action);
    else if (what === "cancel") { this.form = null; if (this.stale) this.reload(); else this.render(); }
    else if (what === "photo") target.classList.toggle("big");
    else if (what === "choose-category") this.choose(target.dataset.category, target);
    else if (what === "choose-picked") {
      const select = this.el.querySelector('select[name="triage_category"]');
      if (select && select.value) this.choose(select.value, target);
      else this.toast(w("triage.pick_first"), "warn");
    }
  }

  /** 研判 in one click: dispatch the triage case under the chosen category (the hub's matrix names the units). */
  async choose(code, button) {
    const c = this.case;
    if (!c || !code) return;
    const id = c.case_id;
    this.el.querySelectorAll(".triage-choice button").forEach((b) => { b.disabled = true; });
    try {
      const answer = await chooseCategory(this.api, c, code);
      if (id !== this.caseId) return;
      this.form = null;
      this.stale = false;
      this.toast(w("triage.dispatched", { c: categoryLabel(code) }), "ok");
      this.case = { ...answer.case, timeline: c.timeline, allowed_actions: [] };
      this.store.put(answer.case);
      this.render();
      await this.reload();
    } catch (err) {
      if (id !== this.caseId) return;
      if (err.status === 409) { await this.reload(); this.toast(t("action.conflict"), "warn"); return; }
      this.el.querySelectorAll(".triage-choice button").forEach((b) => { b.disabled = false; });
      this.toast(`${t("action.failed")}: ${err.describe ? err.describe() : String(err)}`, "error");
      if (button) button.classList.add("bad");
    }
  }

  openForm(action, values = {}) {
    this.form = { action, values };
    this.render();
    const form = this.el.querySelector("form.action-form");
    if (form) {
      const first = form.querySelector("textarea, input:not([type=hidden]), select");
      if (first) first.focus({ preventScroll: true });
      form.scrollIntoView({ block: "nearest" });
    }
  }

  change(ev) {
    const el = ev.target;
    if (el.name === "area_county") this.fillTownships(el.form, el.value);
    if (el.name === "area_county" || el.name === "area_township" || el.name === "area") this.fillUnits(el.form);
  }

  // --- submitting -------------------------------------------------------------------------------------

  async submit(form) {
    if (!form.classList.contains("action-form") || !this.case) return;
    const action = form.dataset.action;
    const values = readValues(form);
    const button = form.querySelector("button[type=submit]");
    const errorEl = form.querySelector(".form-error");
    errorEl.textContent = "";
    form.querySelectorAll(".bad").forEach((el) => el.classList.remove("bad"));
    button.disabled = true;
    button.textContent = w("action.sending");
    let fields;
    try {
      fields = await this.fields(action, form, values);
    } catch (err) {
      errorEl.textContent = err.describe ? err.describe() : String(err);
      button.disabled = false;
      button.textContent = t("action.submit");
      return;
    }
    const id = this.case.case_id;
    try {
      const answer = await this.api.act(id, action, this.case.version, fields);
      if (id !== this.caseId) return;
      this.form = null;
      this.stale = false; // the change the feed announced may well be our own
      this.toast(w("action.done", { a: actionName(action) }), "ok");
      // Show the answer at once (without actions until the full case is back), then the full case.
      this.case = { ...answer.case, timeline: this.case.timeline, allowed_actions: [] };
      this.store.put(answer.case);
      this.render();
      await this.reload();
    } catch (err) {
      if (id !== this.caseId) return;
      if (err.status === 409) {
        // Someone changed the case: reload, say so, and keep the form with what was typed for a retry.
        this.form = null;
        await this.reload();
        this.toast(t("action.conflict"), "warn");
        if (this.case && (this.case.allowed_actions || []).includes(action)) this.openForm(action, values);
        return;
      }
      button.disabled = false;
      button.textContent = t("action.submit");
      errorEl.textContent = `${t("action.failed")}: ${err.describe ? err.describe() : String(err)}`;
      for (const f of err.fields || []) {
        const name = String(f.field || "").split(".")[0];
        const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
        if (input) input.classList.add("bad");
      }
      if (err.status === 403 || err.status === 422) this.toast(err.describe ? err.describe() : String(err), "error");
    }
  }

  /** The JSON fields of an action from its form (photos are uploaded first). */
  async fields(action, form, values) {
    const out = {};
    for (const spec of FORMS[action] || []) {
      const v = values[spec.name];
      if (spec.kind === "area") {
        const area = values.area_township || values.area_county;
        if (area) {
          out.area = area;
          out.areas = this.areaChain(form, values);
        }
      } else if (spec.kind === "photos") {
        const input = form.querySelector('input[type=file][name="photos"]');
        const ids = [];
        for (const file of input ? input.files : []) {
          const data = new FormData();
          data.append("photo", file, file.name);
          const answer = await this.api.upload("/api/v1/photos", data);
          ids.push(answer.photo_id);
        }
        if (ids.length) out.photos = ids;
      } else if (spec.kind === "bool" || spec.kind === "yesno") {
        if (v === "true" || v === "false") out[spec.name] = v === "true";
      } else if (spec.kind === "datetime") {
        if (v) out[spec.name] = new Date(v).toISOString();
      } else if (v !== undefined && v !== "") {
        out[spec.name] = v;
      } else if (!spec.optional && v === "") {
        out[spec.name] = v; // let the server name the missing field
      }
    }
    return out;
  }

  // --- rendering --------------------------------------------------------------------------------------

  render() {
    if (!this.caseId) {
      this.el.innerHTML = `<p class="placeholder">${esc(w("case.none"))}</p>`;
      return;
    }
    if (!this.case) {
      this.el.innerHTML = this.error
        ? `<div class="case-head"><button type="button" class="ghost close" data-do="close" title="${esc(w("case.close"))}">×</button></div>`
          + `<p class="error">${esc(w("case.gone"))}: ${esc(this.error)}</p>`
        : `<p class="placeholder">${esc(w("case.loading"))}</p>`;
      return;
    }
    const c = this.case;
    const scroll = this.el.scrollTop;
    const open = this.el.querySelector("form.action-form");
    if (open && this.form && open.dataset.action === this.form.action) this.form.values = readValues(open);
    this.el.innerHTML = this.html(c);
    this.el.scrollTop = scroll;
    const form = this.el.querySelector("form.action-form");
    if (form) this.prepareForm(form, this.form.action, this.form.values);
    this.loadPhotos(c);
  }

  renderStale() {
    const slot = this.el.querySelector(".stale-slot");
    if (slot) slot.innerHTML = this.staleHtml();
  }

  staleHtml() {
    return this.stale
      ? `<div class="stale" role="status">${esc(w("case.changed"))} <button type="button" class="ghost" data-do="reload">${esc(w("case.reload"))}</button></div>`
      : "";
  }

  html(c) {
    const report = c.report || {};
    const status = slaStatus(c);
    const d = activeDeadline(c);
    const parts = [];
    parts.push(`<div class="case-head">
      <div><div class="ticket" data-field="ticket" title="${esc(c.case_id)}">${esc(caseRef(c))}</div>
      <div class="case-title">${esc(caseLabel(c))}</div></div>
      <div class="head-buttons">${c.location ? `<button type="button" class="ghost" data-do="locate">${esc(w("case.locate"))}</button>` : ""}
      <button type="button" class="ghost close" data-do="close" title="${esc(w("case.close"))}">×</button></div></div>`);
    parts.push(`<div class="badges"><span class="badge" style="background:${esc(STATE_COLOURS[c.state] || "#666")}" data-field="state">${esc(stateName(c.state))}</span>`
      + (status ? `<span class="badge sla-${status}">${esc(t(`sla.${status}`))}</span>` : "")
      + `<span class="badge src">${esc(sourceName(c.source))}</span>`
      + (report.urgency && report.urgency !== "normal" ? `<span class="badge urg-${esc(report.urgency)}">${esc(wv("urgency", report.urgency))}</span>` : "")
      + (report.confidential ? `<span class="badge conf">${esc(w("badge.confidential"))}</span>` : "")
      + (c.flags || []).map((f) => `<span class="badge flag">${esc(wv("flag", f))}</span>`).join("")
      + (c.incident ? `<span class="badge incident level-${esc(c.incident.level)}" data-field="incident">${esc(w("incident.badge", { title: c.incident.title, level: w(`incident.level.${c.incident.level}`) }))}</span>` : "")
      // No point, no address: the hub read the place from the complaint's words (routing.evidence says which).
      + (c.routing && c.routing.located_from_text ? `<span class="badge flag" data-field="located-from-text">${esc(wv("flag", "located_from_text"))}</span>` : "")
      + `</div>`);
    if (d) {
      parts.push(`<div class="deadline sla-${status || "none"}" data-field="active-deadline">
        <span class="label">${esc(t(`deadline.${d.key}`))}</span>
        <span class="countdown" data-countdown="${esc(d.due)}">${esc(countdown(d.due))}</span>
        <span class="when">${esc(formatTime(d.due))}</span></div>`);
    }
    if (isUrgent(c) && c.units && c.units.lead) parts.push(dutyHtml(c));
    parts.push(`<div class="stale-slot">${this.staleHtml()}</div>`);
    if (canChoose(c)) parts.push(this.triageHtml(c));
    parts.push(this.actionsHtml(c));
    parts.push(`<h3>${esc(t("case.content"))}</h3>`);
    const hidden = Boolean(report.content_hidden); // the hub's decision (sees_confidential_content), not the role's
    parts.push(`<p class="content" data-field="content">${esc(hidden ? t("case.confidential") : (report.content || "—"))}</p>`);
    if (report.title && !hidden) parts.push(`<p class="muted">${esc(report.title)}</p>`);
    parts.push(this.photosHtml(c));
    parts.push(`<dl class="facts">${this.factsHtml(c)}</dl>`);
    parts.push(this.deadlinesHtml(c));
    parts.push(this.timelineHtml(c));
    return parts.join("");
  }

  triageHtml(c) {
    const suggested = suggestionsHtml(c);
    return `<h3>${esc(w("triage.title"))}</h3><div class="triage-choice" data-field="triage">`
      + (suggested ? `<p class="muted">${esc(w("triage.suggested"))}</p>${suggested}` : "")
      + pickerHtml(this.config.categories) + `</div>`;
  }

  actionsHtml(c) {
    const actions = c.allowed_actions || [];
    let html = `<h3>${esc(w("case.actions"))}</h3><div class="actions" data-field="actions">`;
    html += actions.length
      ? actions.map((a) => `<button type="button" class="act${this.form && this.form.action === a ? " on" : ""}" data-do="action" data-action="${esc(a)}">${esc(actionName(a))}</button>`).join("")
      : `<span class="muted">${esc(w("case.no_actions"))}</span>`;
    html += `</div>`;
    if (this.form && actions.includes(this.form.action)) html += this.formHtml(this.form.action);
    return html;
  }

  formHtml(action) {
    const specs = FORMS[action] || [];
    const rows = specs.map((spec) => fieldHtml(spec)).join("");
    const confirm = specs.length ? "" : `<p>${esc(w("action.confirm", { a: actionName(action) }))}</p>`;
    return `<form class="action-form" data-action="${esc(action)}" novalidate>
      <h4>${esc(actionName(action))}</h4>${confirm}${rows}
      <p class="form-error" role="alert"></p>
      <div class="form-buttons"><button type="submit">${esc(t("action.submit"))}</button>
      <button type="button" class="ghost" data-do="cancel">${esc(t("action.cancel"))}</button></div></form>`;
  }

  /** Fill the form's dynamic parts (areas, units, defaults) and what the user typed before. */
  async prepareForm(form, action, values) {
    const c = this.case;
    const units = knownUnits(this.store, c);
    if (action === "dispatch") {
      const county = values.area_county || (c.areas && c.areas.county && c.areas.county.code) || "";
      await this.fillCounties(form, county);
      await this.fillTownships(form, county, values.area_township || (c.areas && c.areas.township && c.areas.township.code) || "");
    }
    if (action === "push_down") {
      const township = c.areas && c.areas.township && c.areas.township.code;
      const select = form.querySelector('select[name="area"]');
      if (select && township) {
        const subareas = await this.areas(township);
        select.innerHTML = `<option value="">${esc(w("f.choose"))}</option>`
          + subareas.map((a) => `<option value="${esc(a.code)}">${esc(a.name)}</option>`).join("");
      }
    }
    if (action === "merge" && !values.into && c.merge_suggestion && c.merge_suggestion.into) {
      values = { ...values, into: c.merge_suggestion.into };
    }
    for (const [name, value] of Object.entries(values)) {
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input && input.type !== "file") input.value = value;
    }
    this.fillUnits(form, units);
  }

  /** The names of the chosen area's levels (the hub would otherwise name them by their codes), keeping
   *  the case's own community and grid when the township stays the same. */
  areaChain(form, values) {
    const label = (name) => {
      const select = form.querySelector(`select[name="${name}"]`);
      return select && select.selectedOptions[0] ? select.selectedOptions[0].textContent : "";
    };
    const own = (this.case && this.case.areas) || {};
    const chain = { city: own.city || CITY };
    chain.county = { code: values.area_county, name: label("area_county") };
    if (values.area_township) {
      chain.township = { code: values.area_township, name: label("area_township") };
      if (own.township && own.township.code === values.area_township) {
        if (own.community) chain.community = own.community;
        if (own.grid) chain.grid = own.grid;
      }
    }
    return chain;
  }

  async areas(parent) {
    const key = parent || "";
    if (!this.areaCache.has(key)) {
      const body = await this.api.get("/api/v1/areas", parent ? { parent } : undefined);
      this.areaCache.set(key, body.areas || []);
    }
    return this.areaCache.get(key);
  }

  async fillCounties(form, selected) {
    const select = form.querySelector('select[name="area_county"]');
    if (!select) return;
    const mine = this.config.user.area || "";
    const cityWide = mine.length === 6 && mine.endsWith("00");
    const counties = (await this.areas(null)).filter((a) => cityWide || mine.startsWith(a.code));
    select.innerHTML = `<option value="">${esc(w("f.choose"))}</option>`
      + counties.map((a) => `<option value="${esc(a.code)}"${a.code === selected ? " selected" : ""}>${esc(a.name)}</option>`).join("");
  }

  async fillTownships(form, county, selected = "") {
    const select = form.querySelector('select[name="area_township"]');
    if (!select) return;
    const townships = county ? await this.areas(county) : [];
    select.innerHTML = `<option value="">—</option>`
      + townships.map((a) => `<option value="${esc(a.code)}"${a.code === selected ? " selected" : ""}>${esc(a.name)}</option>`).join("");
    this.fillUnits(form);
  }

  /** Unit suggestions: the chosen area's own government and the units this console has seen there. */
  fillUnits(form, units = knownUnits(this.store, this.case)) {
    const list = form.querySelector("datalist");
    if (!list) return;
    const area = readValues(form);
    const chosen = area.area_township || area.area_county || area.area || "";
    const county = chosen.slice(0, 6);
    const options = new Map();
    if (chosen) {
      const select = form.querySelector(area.area_township ? 'select[name="area_township"]' : 'select[name="area_county"]')
        || form.querySelector('select[name="area"]');
      const name = select && select.selectedOptions[0] ? select.selectedOptions[0].textContent : "";
      options.set(`${chosen}-gov`, name && !name.startsWith("—") ? `${name}人民政府` : "");
    }
    for (const u of units) {
      if (options.has(u.code)) continue;
      if (!county || u.code.startsWith(county) || !/^\d/.test(u.code) || u.level === "city") options.set(u.code, u.name);
    }
    list.innerHTML = [...options].map(([code, name]) => `<option value="${esc(code)}">${esc(name)}</option>`).join("");
  }

  photosHtml(c) {
    const ids = photoIds(c);
    if (!ids.length) return "";
    return `<h3>${esc(t("case.photos"))}</h3><div class="photos">`
      + ids.map((id) => `<img alt="" data-do="photo" data-photo="${esc(id)}">`).join("") + `</div>`;
  }

  async loadPhotos(c) {
    for (const img of this.el.querySelectorAll("img[data-photo]")) {
      const id = img.dataset.photo;
      if (this.photoUrls.has(id)) { img.src = this.photoUrls.get(id); continue; }
      try {
        const url = await this.api.photoUrl(c.case_id, id);
        if (c.case_id !== this.caseId) { URL.revokeObjectURL(url); return; }
        this.photoUrls.set(id, url);
        this.el.querySelectorAll(`img[data-photo="${CSS.escape(id)}"]`).forEach((el) => { el.src = url; });
      } catch {
        img.alt = w("case.photo_failed");
        img.classList.add("failed");
      }
    }
  }

  dropPhotos() {
    for (const url of this.photoUrls.values()) URL.revokeObjectURL(url);
    this.photoUrls.clear();
  }

  factsHtml(c) {
    const report = c.report || {};
    const rows = [];
    const row = (label, value, field = "") => {
      if (value === null || value === undefined || value === "") return;
      rows.push(`<dt>${esc(label)}</dt><dd${field ? ` data-field="${field}"` : ""}>${value}</dd>`);
    };
    row(t("case.category"), esc(categoryPath(c).join(" › ")));
    // 智能分拨: what intake recognised and the words it went by ("识别为 路灯（依据：路灯、不亮）").
    const u = c.understanding;
    if (u && u.code) {
      row(w("case.understood"), esc(w("case.understood_as", { category: categoryLabel(u.code),
        evidence: (u.evidence || []).join("、") || "—", confidence: Math.round((u.confidence || 0) * 100) })),
      "understanding");
    }
    row(w("case.type"), esc(wv("type", report.type)));
    row(w("case.channel"), esc(channelName(report.channel)), "channel");
    row(w("case.reported_at"), esc(report.reported_at ? formatTime(report.reported_at) : ""));
    row(w("case.created_at"), esc(formatTime(c.created_at)));
    const areas = c.areas || {};
    const chain = LEVELS.map((lv) => areas[lv] && areas[lv].name).filter(Boolean);
    row(w("case.chain"), esc(chain.join(" › ")), "areas");
    if (c.routing && c.routing.located_from_text) {
      row(w("case.place_evidence"), esc(Object.values(c.routing.evidence || {}).join("、")), "place-evidence");
    }
    if (report.address) row(w("case.address"), esc(report.address));
    if (c.location) row(w("case.location"), esc(`${c.location.lng.toFixed(5)}, ${c.location.lat.toFixed(5)}`));
    const units = c.units || {};
    row(t("case.unit"), esc(units.lead ? units.lead.name : w("case.unit_none")), "lead");
    if (units.assist && units.assist.length) row(t("case.assist"), esc(units.assist.map((u) => u.name).join("、")));
    if (c.duty_officer && !isUrgent(c)) row(t("duty.officer"), officerHtml(c.duty_officer), "duty-officer-row");
    // A configured rule reads as what it covers, with its id (R-lighting) as a code; the built-in ones
    // (fallback, manual …) read as words.
    const ruleWords = ruleLabel(c.explanation_facts);
    row(t("case.rule"), c.rule ? (ruleName(c.rule) !== c.rule ? esc(ruleName(c.rule))
      : `${ruleWords ? `${esc(ruleWords)} ` : ""}<code>${esc(c.rule)}</code>`) : "", "rule");
    row(w("case.explanation"), esc(explanationText(c.explanation_facts, c.explanation)), "explanation");
    if (c.triage_reason) row(w("case.triage_reason"), esc(wv("triage", c.triage_reason)));
    const who = report.reporter || {};
    if (who.name || who.phone) row(t("case.reporter"), esc([who.name, who.phone].filter(Boolean).join(" ")), "reporter");
    if (c.pending_return) {
      const p = c.pending_return;
      row(w("case.pending_return"), esc(`${wv("ret", p.reason)}${p.note ? "：" + p.note : ""}`));
    }
    if (c.extension) row(w("case.extension"), esc(`${formatTime(c.extension.until)}${c.extension.reason ? "：" + c.extension.reason : ""}`));
    if (c.merge_suggestion) row(w("case.merge_suggestion"), esc(`${c.merge_suggestion.into} (${Number(c.merge_suggestion.score).toFixed(2)})`));
    if (c.parent_id) row(w("case.parent"), `<a href="#" data-open="${esc(c.parent_id)}">${esc(c.parent_id)}</a>`);
    if (c.children && c.children.length) row(w("case.children"), esc(String(c.children.length)));
    if (c.supervision_level) row(w("case.supervision"), esc(String(c.supervision_level)));
    if (c.escalation_level) row(w("case.escalation"), esc(String(c.escalation_level)));
    if (c.return_count) row(w("case.returns"), esc(String(c.return_count)));
    if (c.redo_count) row(w("case.redos"), esc(String(c.redo_count)));
    if (c.sensor) {
      const s = c.sensor;
      row(w("case.sensor"), esc([s.device_id, s.kind, s.name, s.alarms !== undefined ? `×${s.alarms}` : ""].filter(Boolean).join(" · ")));
    }
    if (c.resolution) row(w("case.resolution"), esc(typeof c.resolution === "string" ? c.resolution : (c.resolution.note || "")));
    if (c.outcome) row(w("case.outcome"), esc(wv("sat", c.outcome)));
    row(w("case.version"), esc(String(c.version)), "version");
    row(w("case.id"), `<code>${esc(c.case_id)}</code>`);
    return rows.join("");
  }

  deadlinesHtml(c) {
    const deadlines = deadlineStates(c);
    if (!deadlines.length) return "";
    const sla = c.sla || {};
    const cls = sla.class ? ` <span class="muted">(${esc(wv("urgency", sla.class))}${sla.clock ? " · " + esc(w(sla.clock === "working" ? "clock.working" : "clock.calendar")) : ""})</span>` : "";
    return `<h3>${esc(w("case.all_deadlines"))}${cls}</h3><ul class="deadlines">`
      + deadlines.map((d) => `<li data-deadline="${esc(d.key)}"><span>${esc(t(`deadline.${d.key}`) === `deadline.${d.key}` ? d.key : t(`deadline.${d.key}`))}</span>`
        + `<span>${esc(formatTime(d.due))}</span>${deadlineStatusHtml(d)}</li>`).join("")
      + `</ul>`;
  }

  timelineHtml(c) {
    const events = [...(c.timeline || [])].reverse();
    // Some events name a unit by code only (a return, its review): its name from the dispatches.
    unitNames = new Map();
    for (const e of c.timeline || []) {
      const d = e.data || {};
      for (const u of [d.lead, ...(d.assist || [])]) if (u && u.code) unitNames.set(u.code, u.name);
    }
    return `<h3>${esc(t("case.timeline"))}</h3><ol class="timeline" data-field="timeline">`
      + events.map((e) => `<li data-position="${esc(String(e.position))}"><div class="tl-head"><b>${esc(evName(e.type))}</b>`
        + `<time>${esc(formatTime(e.occurred_at))}</time></div>`
        + (e.actor ? `<div class="tl-actor">${esc(w("tl.by"))} ${esc(actorText(e))}</div>` : "")
        + ((s) => (s ? `<div class="tl-data">${esc(s)}</div>` : ""))(summary(e.type, e.data || {}))
        + `</li>`).join("")
      + `</ol>`;
  }

  /** Countdowns tick every second. */
  tick() {
    const now = Date.now();
    this.el.querySelectorAll("[data-countdown]").forEach((el) => {
      el.textContent = countdown(el.dataset.countdown, now);
      el.classList.toggle("over", Date.parse(el.dataset.countdown) < now);
    });
  }
}


/** A deadline met reads as met, with when (the phone's way); only a running one counts down. */
function deadlineStatusHtml(d) {
  if (d.met) {
    return `<span class="met${d.late ? " late" : ""}" data-field="met">✓ ${esc(t(`deadline.met.${d.key}`, { at: formatTime(d.met) }))}`
      + `${d.late ? ` · ${esc(t("deadline.late"))}` : ""}</span>`;
  }
  if (d.running) return `<span class="countdown" data-countdown="${esc(d.due)}">${esc(countdown(d.due))}</span>`;
  return `<span class="muted">${esc(d.paused ? t("deadline.paused") : "—")}</span>`;
}

function fieldHtml(spec) {
  const label = `<span>${esc(w(spec.label || `f.${spec.name}`))}${spec.optional ? "" : " *"}</span>`;
  const name = esc(spec.name);
  switch (spec.kind) {
    case "textarea":
      return `<label>${label}<textarea name="${name}" rows="2" maxlength="2000"></textarea></label>`;
    case "select":
      return `<label>${label}<select name="${name}"><option value="">${esc(w("f.choose"))}</option>`
        + spec.options.map((o) => `<option value="${esc(o)}">${esc(wv(spec.prefix, o))}</option>`).join("") + `</select></label>`;
    case "bool":
      return `<label>${label}<select name="${name}"><option value="">${esc(w("f.choose"))}</option>`
        + `<option value="true">${esc(w("approve.yes"))}</option><option value="false">${esc(w("approve.no"))}</option></select></label>`;
    case "yesno":
      return `<label>${label}<select name="${name}"><option value="">${esc(w("f.choose"))}</option>`
        + `<option value="true">${esc(w("yes"))}</option><option value="false">${esc(w("no"))}</option></select></label>`;
    case "datetime":
      return `<label>${label}<input type="datetime-local" name="${name}"></label>`;
    case "photos":
      return `<label>${label}<input type="file" name="photos" accept="image/jpeg,image/png,image/webp" multiple></label>`;
    case "area":
      return `<label><span>${esc(w("f.area_county"))} *</span><select name="area_county"></select></label>`
        + `<label><span>${esc(w("f.area_township"))}</span><select name="area_township"></select></label>`;
    case "subarea":
      return `<label>${label}<select name="area"></select></label>`;
    case "unit":
      return `<label>${label}<input name="${name}" list="unit-options" autocomplete="off" spellcheck="false"></label><datalist id="unit-options"></datalist>`;
    default:
      return `<label>${label}<input name="${name}" autocomplete="off"></label>`;
  }
}

function readValues(form) {
  const values = {};
  for (const el of form.elements) {
    if (!el.name || el.type === "file" || el.tagName === "BUTTON") continue;
    values[el.name] = el.value.trim();
  }
  return values;
}

/** 紧急 and 特急: the urgency the case's clocks run on (the words may have raised it), else the report's. */
function isUrgent(c) {
  const level = (c.sla && c.sla.class) || (c.report || {}).urgency;
  return level === "urgent" || level === "critical";
}

/** An urgent case's lead unit's duty officer (值班), to phone now; or the gap (未排班), which matters as much. */
function dutyHtml(c) {
  const o = c.duty_officer;
  return `<div class="duty-box${o ? "" : " gap"}" data-field="duty-officer">
    <span class="label">${esc(t("duty.officer"))} · ${esc(c.units.lead.name)}</span>
    ${o ? `<span class="duty-line">${officerHtml(o)}</span>` : `<span class="duty-gap">${esc(t("duty.none"))}</span>`}</div>`;
}

/** Units known from the cases this console holds (the responsibility matrix's real units). */
function knownUnits(store, current) {
  const units = new Map();
  const add = (u) => { if (u && u.code && !units.has(u.code)) units.set(u.code, u); };
  if (current && current.units) { add(current.units.lead); (current.units.assist || []).forEach(add); }
  for (const c of store.values()) {
    if (!c.units) continue;
    add(c.units.lead);
    (c.units.assist || []).forEach(add);
    if (units.size > 400) break;
  }
  return [...units.values()];
}

function photoIds(c) {
  const ids = new Set();
  for (const id of (c.report && c.report.photos) || []) ids.add(typeof id === "string" ? id : id.id || id.photo_id);
  for (const e of c.timeline || []) for (const id of (e.data && e.data.photos) || []) ids.add(id);
  ids.delete(undefined);
  return [...ids];
}

/** What people call a case: the hotline's ticket number, the app's report id, the device, else its id's start. */
function caseRef(c) {
  const report = c.report || {};
  if (report.ticket_no) return report.ticket_no;
  if (report.report_id) return report.report_id;
  if (c.sensor && c.sensor.device_id) return `${c.sensor.device_id} · ${c.case_id.slice(0, 8)}`;
  return c.case_id.slice(0, 8);
}

let unitNames = new Map();
function unitName(u) {
  if (!u) return "";
  if (typeof u === "string") return unitNames.get(u) || u;
  return u.name || u.code || "";
}

/** A short line about what an event did (note, reason, satisfaction, unit ...). */
function summary(type, data) {
  const parts = [];
  if (type === "case.received") {
    const r = data.report || {};
    if (data.source) parts.push(sourceName(data.source));
    if (r.ticket_no) parts.push(r.ticket_no);
    return parts.join(" · ");
  }
  if (type === "case.dispatched" && data.lead) parts.push(`→ ${unitName(data.lead)}`);
  if (type === "case.triaged" && data.reason) parts.push(wv("triage", data.reason));
  if (data.reason && type !== "case.triaged") parts.push(RETURN_REASONS.includes(data.reason) ? wv("ret", data.reason) : data.reason);
  if (data.note) parts.push(data.note);
  if ("approved" in data) parts.push(data.approved ? w("approve.yes") : w("approve.no"));
  if (data.until) parts.push(`${w("f.until")} ${formatTime(data.until)}`);
  if (data.unit && type !== "case.dispatched") parts.push(unitName(data.unit));
  if ("contacted" in data) parts.push(`${w("f.contacted")}: ${data.contacted ? w("yes") : w("no")}`);
  if ("solved" in data) parts.push(`${w("f.solved")}: ${data.solved ? w("yes") : w("no")}`);
  if (data.satisfaction) parts.push(`${w("f.satisfaction")}: ${wv("sat", data.satisfaction)}`);
  if (data.outcome) parts.push(wv("sat", data.outcome));
  if (data.into) parts.push(`→ ${String(data.into).slice(0, 8)}`);
  if (data.level !== undefined && type === "case.escalated") parts.push(`L${data.level}`);
  if (data.photos && data.photos.length) parts.push(`${t("case.photos")} ×${data.photos.length}`);
  return parts.join(" · ");
}

