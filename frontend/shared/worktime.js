// The working-time indicator of both consoles: outside working hours (nights, weekends, holidays) working-time
// limits do not count, and a duty officer watching a deadline that does not move must be told why —
// "非工作时间，计时暂停" with when the clocks resume. The hub decides from its working calendar
// (GET /api/v1/console/config "working_time": {running, changes_at}, null without working-time limits); this
// shows it and asks again when it changes.

import { formatTime, onLangChange, t } from "/static/shared/i18n.js";

const MIN_WAIT = 5_000;       // never ask in a tight loop (a clock that is off)
const MAX_WAIT = 3_600_000;   // and at least hourly (a laptop that slept through the change)
const RETRY = 60_000;

export class WorkingTime {
  /**
   * @param {object} o
   * @param {HTMLElement} o.el  where the indicator goes (hidden while clocks run)
   * @param {{get: (path: string) => Promise<any>}} o.api
   */
  constructor({ el, api }) {
    this.el = el;
    this.api = api;
    this.state = null;
    this.timer = null;
    el.classList.add("worktime");
    el.setAttribute("role", "status");
    el.hidden = true;
    onLangChange(() => this.render());
  }

  /** @param {{running: boolean, changes_at: string} | null | undefined} state  the config's "working_time" */
  show(state) {
    this.state = state ?? null;
    this.render();
    clearTimeout(this.timer);
    if (!this.state) return;
    const wait = Date.parse(this.state.changes_at) - Date.now() + 1000;
    this.timer = setTimeout(() => this.refresh(), Math.min(MAX_WAIT, Math.max(MIN_WAIT, wait)));
  }

  async refresh() {
    try {
      this.show((await this.api.get("/api/v1/console/config")).working_time);
    } catch {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh(), RETRY);
    }
  }

  render() {
    const paused = Boolean(this.state && !this.state.running);
    this.el.hidden = !paused;
    this.el.dataset.state = paused ? "paused" : "running";
    if (!paused) { this.el.textContent = ""; return; }
    this.el.textContent = t("worktime.paused");
    const resumes = document.createElement("small");
    resumes.textContent = t("worktime.resumes", { time: formatTime(this.state.changes_at) });
    this.el.append(" ", resumes);
    this.el.title = t("worktime.explain");
  }
}
