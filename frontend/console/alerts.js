// 预警 on the command centre: a dismissable banner over the map when an alert is raised or grows, the 预警
// tab listing the alerts of the jurisdiction with their evidence, who acknowledged or closed them and when,
// acknowledge / close with a note (for the roles the API allows), and the linked cases one click away.
// The alerts come from the live feed (AlertBook); an action's answer goes into the book too, and every other
// console learns of it from its own feed.

import { ACKNOWLEDGE_ROLES, alertFacts, alertLine, alertStateName, CLOSE_ROLES, isNews } from "/static/shared/alerts.js";
import { caseColour } from "/static/shared/cases.js";
import { esc, stateName, t } from "/static/shared/i18n.js";
import { caseLabel } from "./words.js";

// "active": open and acknowledged (someone is on it, but it is not over) — what the tab shows by default.
const FILTERS = { active: ["open", "acknowledged"], open: ["open"], acknowledged: ["acknowledged"], closed: ["closed"], all: null };
const LINKED_FETCH = 30; // cases the feed did not bring, fetched one by one: a surge links a few dozen at most

export class AlertDesk {
  /**
   * @param {object} o
   * @param {import("/static/shared/alerts.js").AlertBook} o.book
   * @param {object} o.api   @param {object} o.store  the CaseStore
   * @param {string} o.role  the signed-in user's role
   * @param {HTMLElement} o.listEl  the 预警 tab's body   @param {HTMLElement} o.bannerEl  over the map
   * @param {HTMLElement} o.countEl the tab's count
   * @param {(id: string) => void} o.onCase   @param {() => void} o.onShow  bring the 预警 tab forward
   * @param {(code: string) => string} o.countyName   @param {Function} o.toast
   */
  constructor(o) {
    Object.assign(this, o);
    this.filter = "active";
    this.expanded = new Set(); // alert ids whose linked cases are listed
    this.forms = new Map(); // alert id -> "acknowledge" | "close": the note form open under it
    this.notes = new Map(); // alert id -> the note typed so far: a live re-render must not lose it
    this.errors = new Map(); // alert id -> the API's refusal, shown under the form
    this.bannerId = null;
    this.closedLoaded = false;
    this.book.on((changed, how) => {
      const news = changed.filter(isNews);
      if (news.length) this.showBanner(news[news.length - 1].alert.alert_id);
      else if (how === "snapshot" && !this.bannerId) {
        const open = this.book.list(["open"]);
        if (open.length) this.showBanner(open[0].alert_id);
      }
      if (this.bannerId && this.book.get(this.bannerId)?.state !== "open") this.hideBanner();
      else if (this.bannerId) this.renderBanner();
      this.render();
    });
    this.bannerEl.addEventListener("click", (ev) => {
      if (ev.target.closest("[data-do=dismiss]")) { this.hideBanner(); return; }
      const id = this.bannerId;
      if (!id) return;
      if (!(FILTERS[this.filter] || ["open"]).includes("open")) this.filter = "active";
      if (!this.expanded.has(id)) { this.expanded.add(id); this.fetchLinked(id); }
      this.onShow();
      this.render();
      this.listEl.querySelector(`[data-alert-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: "nearest" });
    });
    this.listEl.addEventListener("click", (ev) => this.click(ev));
    this.listEl.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(ev.target); });
    this.listEl.addEventListener("input", (ev) => {
      const li = ev.target.name === "note" && ev.target.closest("[data-alert-id]");
      if (li) this.notes.set(li.dataset.alertId, ev.target.value);
    });
    this.render();
  }

  // --- the banner --------------------------------------------------------------------------------------

  showBanner(id) { this.bannerId = id; this.renderBanner(); }

  hideBanner() { this.bannerId = null; this.bannerEl.hidden = true; this.bannerEl.innerHTML = ""; }

  renderBanner() {
    const a = this.bannerId && this.book.get(this.bannerId);
    if (!a) { this.hideBanner(); return; }
    const others = this.book.list(["open"]).length - 1;
    this.bannerEl.dataset.alertId = a.alert_id;
    this.bannerEl.innerHTML = `<span class="alert-icon" aria-hidden="true">⚠</span>`
      + `<button type="button" class="alert-text" data-do="show" title="${esc(alertLine(a, this.countyName))}">${esc(alertLine(a, this.countyName))}</button>`
      + (others > 0 ? `<span class="alert-more">${esc(t("alert.more", { n: others }))}</span>` : "")
      + `<button type="button" class="alert-dismiss" data-do="dismiss" title="${esc(t("alert.dismiss"))}"`
      + ` aria-label="${esc(t("alert.dismiss"))}">×</button>`;
    this.bannerEl.hidden = false;
  }

  // --- the 预警 tab ------------------------------------------------------------------------------------

  render() {
    const open = this.book.list(["open"]).length;
    this.countEl.textContent = open ? String(open) : "";
    this.countEl.classList.toggle("has", open > 0);
    this.countEl.hidden = !open; // no empty bubble beside 预警
    const alerts = this.book.list(FILTERS[this.filter]);
    const filters = Object.keys(FILTERS).map((f) => `<button type="button" class="chip${f === this.filter ? " active" : ""}"`
      + ` data-filter="${f}" aria-pressed="${f === this.filter}">${esc(f === "all" ? t("all") : f === "active" ? t("alert.active") : alertStateName(f))}</button>`).join("");
    const focused = this.listEl.contains(document.activeElement) && document.activeElement.name === "note"
      ? document.activeElement.closest("[data-alert-id]")?.dataset.alertId : null;
    this.listEl.innerHTML = `<div class="alert-filters">${filters}</div>`
      + (alerts.length ? `<ol class="alert-list">${alerts.map((a) => this.itemHtml(a)).join("")}</ol>`
        : `<p class="muted">${esc(t("alert.none"))}</p>`);
    const area = focused && this.listEl.querySelector(`[data-alert-id="${CSS.escape(focused)}"] textarea`);
    if (area) { area.focus(); area.selectionStart = area.selectionEnd = area.value.length; }
  }

  itemHtml(a) {
    const id = a.alert_id;
    const canAck = a.state === "open" && ACKNOWLEDGE_ROLES.has(this.role);
    const canClose = a.state !== "closed" && CLOSE_ROLES.has(this.role);
    const rows = alertFacts(a, this.countyName);
    const form = this.forms.get(id);
    const linked = this.expanded.has(id);
    return `<li class="alert-item state-${esc(a.state)}" data-alert-id="${esc(id)}" data-state="${esc(a.state)}">`
      + `<div class="alert-head"><span class="alert-state">${esc(alertStateName(a.state))}</span>`
      + `<span class="alert-title">${esc(alertLine(a, this.countyName))}</span></div>`
      + `<dl class="alert-facts">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("")}</dl>`
      + `<div class="alert-actions"><button type="button" data-do="cases" aria-expanded="${linked}">`
      + `${esc(t("alert.cases", { n: (a.case_ids || []).length }))}</button>`
      + (canAck ? `<button type="button" data-do="acknowledge">${esc(t("alert.acknowledge"))}</button>` : "")
      + (canClose ? `<button type="button" class="ghost" data-do="close">${esc(t("alert.close"))}</button>` : "")
      + `</div>`
      + (form ? `<form class="alert-form" data-action="${esc(form)}"><label>${esc(t("alert.note"))}`
        + `<textarea name="note" rows="2" maxlength="1000" placeholder="${esc(t("alert.note_ph"))}">${esc(this.notes.get(id) || "")}</textarea></label>`
        + `<div class="alert-actions"><button type="submit">${esc(t(`alert.${form}`))}</button>`
        + `<button type="button" class="ghost" data-do="cancel">${esc(t("action.cancel"))}</button></div>`
        + `<p class="error" role="alert">${esc(this.errors.get(id) || "")}</p></form>` : "")
      + (linked ? `<ol class="list alert-cases" data-linked="${esc(id)}">${(a.case_ids || []).map((cid) => this.caseHtml(cid)).join("")}</ol>` : "")
      + `</li>`;
  }

  caseHtml(id) {
    const c = this.store.get(id);
    const label = c ? (caseLabel(c) || (c.report || {}).ticket_no || id) : id.slice(0, 8);
    const sub = c ? `<span class="state">${esc(stateName(c.state))}</span><span class="sub">${esc((c.report || {}).ticket_no || "")}</span>` : "";
    const colour = c ? caseColour(c) : "#8c8c8c";
    return `<li data-case-id="${esc(id)}" tabindex="0"><i class="swatch" style="background:${esc(colour)}"></i><span class="title">${esc(label)}</span>${sub}</li>`;
  }

  click(ev) {
    const filter = ev.target.closest("[data-filter]");
    if (filter) {
      this.filter = filter.dataset.filter;
      if ((this.filter === "closed" || this.filter === "all") && !this.closedLoaded) this.loadAll();
      this.render();
      return;
    }
    const li = ev.target.closest("[data-alert-id]");
    const caseLi = ev.target.closest("li[data-case-id]");
    if (caseLi) { this.onCase(caseLi.dataset.caseId); return; }
    const button = ev.target.closest("button[data-do]");
    if (!li || !button) return;
    const id = li.dataset.alertId;
    const what = button.dataset.do;
    if (what === "cases") {
      if (this.expanded.has(id)) this.expanded.delete(id); else { this.expanded.add(id); this.fetchLinked(id); }
    } else if (what === "acknowledge" || what === "close") {
      this.forms.set(id, what);
      this.errors.delete(id);
    } else if (what === "cancel") {
      this.forms.delete(id);
      this.errors.delete(id);
    }
    this.render();
    if (what === "acknowledge" || what === "close") this.listEl.querySelector(`[data-alert-id="${CSS.escape(id)}"] textarea`)?.focus();
  }

  async submit(form) {
    const id = form.closest("[data-alert-id]").dataset.alertId;
    const action = form.dataset.action;
    form.querySelector("button[type=submit]").disabled = true;
    this.errors.delete(id);
    form.querySelector(".error").textContent = "";
    try {
      const note = form.note.value.trim();
      const doc = await this.api.post(`/api/v1/alerts/${encodeURIComponent(id)}/${action}`, note ? { note } : {});
      this.forms.delete(id);
      this.notes.delete(id);
      this.toast(t(`alert.done.${action}`), "ok");
      this.book.put([doc], "rest");
    } catch (err) {
      const text = `${t("action.failed")}: ${err.describe ? err.describe() : String(err)}`;
      this.errors.set(id, text);
      this.toast(text, "error");
    }
    this.render();
  }

  /** Closed alerts are not in the snapshot: asked for once when the user looks at them. */
  async loadAll() {
    try {
      const body = await this.api.get("/api/v1/alerts", { state: "all", limit: 200 });
      this.closedLoaded = true;
      this.book.put(body.alerts || [], "rest");
    } catch (err) {
      this.toast(`${t("action.failed")}: ${err.describe ? err.describe() : String(err)}`, "error");
    }
  }

  /** Linked cases the feed did not bring (finished, or past the snapshot's cut): fetched to name them. */
  async fetchLinked(id) {
    const a = this.book.get(id);
    const missing = (a?.case_ids || []).filter((cid) => !this.store.get(cid)).slice(0, LINKED_FETCH);
    let got = 0;
    await Promise.all(missing.map((cid) => this.api.get(`/api/v1/cases/${encodeURIComponent(cid)}`)
      .then((c) => { this.store.put(c); got += 1; }).catch(() => {})));
    if (got) this.render();
  }

  relabel() { this.render(); if (this.bannerId) this.renderBanner(); }
}
