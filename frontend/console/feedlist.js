// The live event feed: newest first, one item per event of the store (each position once), at most MAX.

import { caseColour } from "/static/shared/cases.js";
import { esc, formatClock, stateName } from "/static/shared/i18n.js";
import { caseLabel, evName, w } from "./words.js";

const MAX = 300;

export class FeedList {
  constructor({ el, countEl, onCase }) {
    this.el = el;
    this.countEl = countEl;
    this.onCase = onCase;
    this.items = []; // newest first: {position, case_id, type, occurred_at, case}
    this.seen = new Set();
    this.total = 0;
    el.addEventListener("click", (ev) => {
      const li = ev.target.closest("li[data-case-id]");
      if (li) this.onCase(li.dataset.caseId);
    });
    el.addEventListener("keydown", (ev) => {
      const li = ev.target.closest("li[data-case-id]");
      if (li && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); this.onCase(li.dataset.caseId); }
    });
    this.render();
  }

  /** Events in position order, as the feed delivers them; `cases`: each case as the store now holds it (an
   *  event's own `case` may be only a patch). */
  add(events, cases = new Map()) {
    const fresh = [];
    for (const e of events) {
      if (this.seen.has(e.position)) continue; // LiveFeed already drops repeats; never show one twice
      this.seen.add(e.position);
      const item = { position: e.position, case_id: e.case_id, type: e.event.type,
                     occurred_at: e.event.occurred_at || e.event.recorded_at,
                     case: cases.get(e.case_id) || e.case || {} };
      fresh.push(item);
    }
    if (!fresh.length) return;
    this.total += fresh.length;
    this.el.querySelector(".empty")?.remove();
    const frag = document.createDocumentFragment();
    for (let i = fresh.length - 1; i >= 0; i--) frag.appendChild(this.itemEl(fresh[i]));
    this.el.prepend(frag);
    this.items.unshift(...fresh.reverse());
    while (this.items.length > MAX) {
      const gone = this.items.pop();
      this.seen.delete(gone.position);
      this.el.lastElementChild?.remove();
    }
    this.renderCount();
  }

  itemEl(item) {
    const li = document.createElement("li");
    li.dataset.position = String(item.position);
    li.dataset.caseId = item.case_id;
    li.dataset.type = item.type;
    li.tabIndex = 0;
    const c = item.case;
    const ticket = (c.report || {}).ticket_no || "";
    li.innerHTML = `<i class="swatch" style="background:${esc(caseColour(c))}"></i>`
      + `<time>${esc(item.occurred_at ? formatClock(item.occurred_at) : "")}</time>`
      + `<b class="ev">${esc(evName(item.type))}</b>`
      + `<span class="title">${esc(caseLabel(c) || ticket)}</span>`
      + `<span class="state">${esc(stateName(c.state))}</span>`;
    li.title = ticket;
    return li;
  }

  render() {
    this.el.innerHTML = "";
    if (!this.items.length) {
      this.el.innerHTML = `<li class="empty">${esc(w("feed.empty"))}</li>`;
    } else {
      const frag = document.createDocumentFragment();
      for (const item of this.items) frag.appendChild(this.itemEl(item));
      this.el.appendChild(frag);
    }
    this.renderCount();
  }

  renderCount() {
    if (this.countEl) this.countEl.textContent = this.total ? w("feed.count", { n: this.total }) : "";
  }
}
