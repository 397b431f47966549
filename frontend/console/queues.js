// The work queues (待办队列): triage, returns to review, extensions to approve, overdue, supervised and
// possible duplicates, with counts. Refreshed on live events, at most once every two seconds.

import { activeDeadline, caseColour } from "/static/shared/cases.js";
import { countdown, esc, stateName, t } from "/static/shared/i18n.js";
import { canChoose, chooseCategory, suggestionsHtml } from "./triage.js";
import { caseLabel, categoryName, w } from "./words.js";

export const QUEUES = ["triage", "returns", "extensions", "overdue", "supervised", "merge_suggestions"];
const LIMIT = 100;
const MIN_INTERVAL_MS = 2000;

export class Queues {
  constructor({ api, tabsEl, listEl, onCase, available, canDispatch = false, toast = () => {} }) {
    this.api = api;
    this.canDispatch = canDispatch; // the triage queue offers its suggestions as one-click dispatches
    this.toast = toast;
    this.tabsEl = tabsEl;
    this.listEl = listEl;
    this.onCase = onCase;
    this.names = QUEUES.filter((q) => !available || available.includes(q));
    this.active = this.names[0];
    this.data = {}; // name -> cases
    this.lastRun = 0;
    this.timer = null;
    this.running = false;
    this.again = false;
    tabsEl.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button[data-queue]");
      if (!btn) return;
      this.active = btn.dataset.queue;
      this.render();
    });
    listEl.addEventListener("click", (ev) => {
      const choice = ev.target.closest('[data-do="choose-category"]');
      if (choice) { this.choose(choice.closest("li[data-case-id]").dataset.caseId, choice.dataset.category, choice); return; }
      const li = ev.target.closest("li[data-case-id]");
      if (li) this.onCase(li.dataset.caseId);
    });
    listEl.addEventListener("keydown", (ev) => {
      if (ev.target.closest("button")) return; // a suggestion's own button
      const li = ev.target.closest("li[data-case-id]");
      if (li && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); this.onCase(li.dataset.caseId); }
    });
    this.render();
  }

  /** Ask for a refresh: runs now if the last one was long enough ago, else once at the end of the interval. */
  refresh() {
    if (this.running) { this.again = true; return; }
    if (this.timer) return;
    const wait = Math.max(0, this.lastRun + MIN_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => { this.timer = null; this.load(); }, wait);
  }

  async load() {
    this.running = true;
    this.lastRun = Date.now();
    try {
      const answers = await Promise.all(this.names.map((name) =>
        this.api.get(`/api/v1/queues/${name}`, { limit: LIMIT }).then((b) => b.cases).catch(() => null)));
      this.names.forEach((name, i) => { if (answers[i]) this.data[name] = answers[i]; });
      this.render();
    } finally {
      this.running = false;
      if (this.again) { this.again = false; this.refresh(); }
    }
  }

  render() {
    this.tabsEl.innerHTML = this.names.map((name) => {
      const n = this.data[name] ? this.data[name].length : null;
      const count = n === null ? "" : `<span class="count${n ? " has" : ""}">${n >= LIMIT ? LIMIT + "+" : n}</span>`;
      return `<button type="button" role="tab" data-queue="${esc(name)}" class="tab${name === this.active ? " active" : ""}"`
        + ` aria-selected="${name === this.active}">${esc(t(`queue.${name}`))}${count}</button>`;
    }).join("");
    const cases = this.data[this.active];
    if (!cases) { this.listEl.innerHTML = `<li class="empty">${esc(t("loading"))}</li>`; return; }
    if (!cases.length) { this.listEl.innerHTML = `<li class="empty">${esc(w("queue.empty"))}</li>`; return; }
    const offer = this.active === "triage" && this.canDispatch;
    this.listEl.innerHTML = cases.map((c) => itemHtml(c, offer && canChoose(c))).join("")
      + (cases.length >= LIMIT ? `<li class="empty">${esc(w("queue.more", { n: LIMIT }))}</li>` : "");
  }

  /** One click on a suggestion: dispatch the triage case under it, then show the case. */
  async choose(caseId, code, button) {
    const c = (this.data.triage || []).find((x) => x.case_id === caseId);
    if (!c) return;
    button.disabled = true;
    try {
      await chooseCategory(this.api, c, code);
      this.toast(w("triage.dispatched", { c: categoryName(code) }), "ok");
      this.data.triage = this.data.triage.filter((x) => x.case_id !== caseId);
      this.render();
      this.onCase(caseId);
    } catch (err) {
      button.disabled = false;
      this.toast(`${t("action.failed")}: ${err.describe ? err.describe() : String(err)}`, err.status === 409 ? "warn" : "error");
    }
    this.refresh();
  }

  /** Countdowns move between refreshes. */
  tick() {
    this.listEl.querySelectorAll("[data-due]").forEach((el) => { el.textContent = countdown(el.dataset.due); });
  }
}

function itemHtml(c, offer = false) {
  const report = c.report || {};
  const d = activeDeadline(c);
  const due = d ? `<span class="due" data-due="${esc(d.due)}">${esc(countdown(d.due))}</span>` : "";
  return `<li data-case-id="${esc(c.case_id)}" tabindex="0"><i class="swatch" style="background:${esc(caseColour(c))}"></i>`
    + `<span class="title">${esc(caseLabel(c) || report.category || "")}</span>`
    + `<span class="state">${esc(stateName(c.state))}</span>`
    + `<span class="sub">${esc(report.ticket_no || "")}</span>${due}${offer ? suggestionsHtml(c) : ""}</li>`;
}
