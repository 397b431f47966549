// 今日值班: today's duty officers of every county and township in the user's jurisdiction (GET /api/v1/duty), the
// gaps shown as 未排班, then the other units with an officer today (bureaus, command centres, city units).
// Read when the tab opens and every minute while it stays open; the hub clips and masks.

import { officerHtml } from "/static/shared/duty.js";
import { esc, t } from "/static/shared/i18n.js";
import { w } from "./words.js";

const REFRESH_MS = 60_000;

export class DutyPanel {
  constructor({ el, api, toast }) {
    this.el = el;
    this.api = api;
    this.toast = toast;
    this.roster = null; // the last answer
    this.timer = null;
    this.error = null;
  }

  show() {
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
  }

  hide() {
    clearInterval(this.timer);
    this.timer = null;
  }

  relabel() { this.render(); }

  async load() {
    try {
      this.roster = await this.api.get("/api/v1/duty");
      this.error = null;
    } catch (err) {
      this.error = err.describe ? err.describe() : String(err);
    }
    this.render();
  }

  render() {
    if (!this.roster) {
      this.el.innerHTML = `<p class="muted">${esc(this.error ? `${w("duty.load_failed")}: ${this.error}` : t("loading"))}</p>`;
      return;
    }
    const units = this.roster.units || [];
    const counties = units.filter((u) => u.level === "county" && u.code.endsWith("-gov"));
    const townships = units.filter((u) => u.level === "township" && u.code.endsWith("-gov"));
    const others = units.filter((u) => !counties.includes(u) && !townships.includes(u));
    const areas = [...counties, ...townships];
    const covered = areas.filter((u) => u.officers.length).length;
    const parts = [`<p class="duty-summary" data-field="duty-summary">${esc(w("duty.summary", {
      date: this.roster.date, n: covered, m: areas.length }))}</p>`];
    if (this.error) parts.push(`<p class="error">${esc(`${w("duty.load_failed")}: ${this.error}`)}</p>`);
    const byCounty = new Map();
    for (const u of townships) {
      const parent = (u.area && u.area.parent_code) || "";
      if (!byCounty.has(parent)) byCounty.set(parent, []);
      byCounty.get(parent).push(u);
    }
    if (counties.length) {
      parts.push(`<h3>${esc(w("duty.counties"))}</h3>`, listHtml(counties));
    }
    const names = new Map(counties.map((u) => [u.area.code, u.area.name]));
    for (const [county, list] of byCounty) {
      const title = names.get(county) ? `${w("duty.townships")} · ${names.get(county)}` : w("duty.townships");
      parts.push(`<h3>${esc(title)}</h3>`, listHtml(list));
    }
    if (others.length) parts.push(`<h3>${esc(w("duty.others"))}</h3>`, listHtml(others));
    if (!units.length) parts.push(`<p class="muted">${esc(w("duty.empty"))}</p>`);
    this.el.innerHTML = parts.join("");
  }
}

function listHtml(units) {
  return `<ul class="duty-list">${units.map((u) => `<li data-unit="${esc(u.code)}" class="${u.officers.length ? "" : "gap"}">
    <span class="duty-unit">${esc(u.name)}</span>
    ${u.officers.length
      ? u.officers.map((o) => `<span class="duty-line">${officerHtml(o)}</span>`).join("")
      : `<span class="duty-gap">${esc(t("duty.none"))}</span>`}</li>`).join("")}</ul>`;
}
