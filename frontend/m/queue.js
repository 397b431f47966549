// 我的待办: my township's cases sorted by deadline (overdue first), counts by state as filters, and the
// countdowns that move every 30 s without rebuilding the cards.

import { activeDeadline, caseColour, slaStatus } from "/static/shared/cases.js";
import { countdown, esc, lang, sourceName, stateName, t } from "/static/shared/i18n.js";
import { isMine, ledByMe, S } from "./store.js";
import { $, $$, categoryName, contentOf, placeOf } from "./ui.js";
import { w } from "./words.js";

const TICK_MS = 30000;
const cardEls = new Map(); // case_id → its <li>, kept across renders
let renderQueued = false;

function dueOf(c) {
  const d = activeDeadline(c);
  return d ? Date.parse(d.due) : Infinity;
}

function myQueue() {
  return [...S.cases.values()].filter(isMine)
    .sort((a, b) => dueOf(a) - dueOf(b) || String(a.created_at).localeCompare(String(b.created_at)));
}

function matchesFilter(c, filter) {
  if (filter === "all") return true;
  if (filter === "overdue") return slaStatus(c) === "overdue";
  return c.state === filter;
}

export function visibleQueue() { return myQueue().filter((c) => matchesFilter(c, S.filter)); }

function deadlineText(c, now = Date.now()) {
  const d = activeDeadline(c);
  if (!d) return "";
  const paused = c.state === "return_requested" || (c.sla && c.sla.paused_at);
  return `${t(`deadline.${d.key}`)} ${paused ? w("queue.paused") : countdown(d.due, now)}`;
}

function renderCounts(all) {
  const counts = { all: all.length, dispatched: 0, accepted: 0, return_requested: 0, overdue: 0 };
  for (const c of all) {
    counts[c.state] = (counts[c.state] || 0) + 1;
    if (slaStatus(c) === "overdue") counts.overdue += 1;
  }
  const keys = ["all", "dispatched", "accepted", "return_requested", "overdue"];
  $("#counts").innerHTML = keys.map((key) => `<button type="button" class="chip chip-${key}" data-filter="${key}"
    data-count="${counts[key]}" aria-pressed="${S.filter === key}" title="${esc(key === "all" || key === "overdue"
    ? w(`queue.count.${key}`) : stateName(key))}"><b>${counts[key]}</b><span>${esc(w(`queue.count.${key}`))}</span></button>`).join("");
  const badge = $("#nav-badge");
  badge.textContent = String(counts.dispatched + counts.overdue > 99 ? "99+" : counts.dispatched);
  badge.hidden = counts.dispatched === 0;
}

export function renderQueueStatus() {
  const el = $("#queue-status");
  const status = $("#conn").dataset.status;
  if (!S.snapshot) {
    const waiting = status === "connecting" || status === "live";
    el.innerHTML = `<p class="muted loading-text">${esc(waiting ? w("queue.loading") : t(`conn.${status}`))}</p>
      ${waiting ? "" : `<button type="button" class="btn ghost block" data-act="reconnect">${esc(w("queue.retry"))}</button>`}
      <ol class="cards skeleton" aria-hidden="true">${"<li><div class=\"card sk\"><i></i><i></i><i></i></div></li>".repeat(3)}</ol>`;
    return;
  }
  const stale = status === "live" ? "" : `<p class="notice warn">${esc(w("queue.stale"))}</p>`;
  el.innerHTML = stale + (visibleQueue().length ? "" : `<p class="empty">${esc(t("queue.empty"))}</p>`);
}

function cardHtml(c, now) {
  const status = slaStatus(c, now);
  const lead = (c.units || {}).lead;
  const ticket = (c.report || {}).ticket_no;
  return `<button type="button" class="card sla-${status || "none"}" data-open="${esc(c.case_id)}"
      style="--c:${esc(caseColour(c, now))}">
    <span class="card-top"><span class="card-cat">${esc(categoryName(c))}</span>
      <span class="state state-${esc(c.state)}">${esc(stateName(c.state))}</span></span>
    <span class="card-due" data-due-for="${esc(c.case_id)}">${esc(deadlineText(c, now))}</span>
    <span class="card-place">${esc(placeOf(c) || (c.report || {}).address || "")}</span>
    <span class="card-content">${esc(contentOf(c))}</span>
    <span class="card-meta">${esc(sourceName(c.source))}${ticket ? ` · ${esc(ticket)}` : ""}${
      !ledByMe(c) && lead ? ` · ${esc(w("queue.lead"))}: ${esc(lead.name)}` : ""}</span>
  </button>`;
}

export function renderQueue() {
  const all = myQueue();
  renderCounts(all);
  if (S.view === "queue") renderQueueStatus();
  const list = all.filter((c) => matchesFilter(c, S.filter));
  const ol = $("#queue");
  const now = Date.now();
  const keep = new Set(list.map((c) => c.case_id));
  for (const [id, li] of cardEls) if (!keep.has(id)) { li.remove(); cardEls.delete(id); }
  let prev = null;
  for (const c of list) {
    let li = cardEls.get(c.case_id);
    if (!li) {
      li = document.createElement("li");
      li.dataset.id = c.case_id;
      cardEls.set(c.case_id, li);
      if (S.fresh.delete(c.case_id)) li.classList.add("fresh");
    }
    const sig = `${c.version}|${lang()}|${slaStatus(c, now)}`;
    if (li.dataset.sig !== sig) { li.innerHTML = cardHtml(c, now); li.dataset.sig = sig; }
    const expected = prev ? prev.nextSibling : ol.firstChild;
    if (expected !== li) ol.insertBefore(li, expected);
    prev = li;
  }
}

/** Every 30 s (and when the phone wakes): countdowns move, colours follow; cards are not rebuilt. */
function tick() {
  const now = Date.now();
  for (const el of $$("[data-due-for]")) {
    const c = S.cases.get(el.dataset.dueFor);
    if (c) el.textContent = deadlineText(c, now);
  }
  for (const li of cardEls.values()) {
    const c = S.cases.get(li.dataset.id);
    if (!c) continue;
    const card = li.firstElementChild;
    const status = slaStatus(c, now) || "none";
    if (card && !card.classList.contains(`sla-${status}`)) li.dataset.sig = ""; // rebuilt below
  }
  if ([...cardEls.values()].some((li) => !li.dataset.sig)) renderQueue();
  else renderCounts(myQueue());
  for (const el of $$("[data-countdown]")) el.textContent = countdown(el.dataset.countdown, now);
}

/** Render the queue once on the next frame, however many events arrive before it. */
export function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderQueue();
  });
}

/** Signed out: no card of the last user stays. */
export function clearQueue() {
  cardEls.clear();
  $("#queue").innerHTML = "";
}

export function wireQueue() {
  $("#counts").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-filter]");
    if (!b) return;
    S.filter = S.filter === b.dataset.filter ? "all" : b.dataset.filter;
    renderQueue();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
  setInterval(tick, TICK_MS);
}
