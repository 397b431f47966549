// 我的待办: the cases my unit leads and must act on, sorted by deadline (overdue first), counts by state as
// filters, and the countdowns that move every 30 s without rebuilding the cards. A second tab (协办/关注) lists
// the cases my unit assists or my area watches, each naming its lead unit: comments only, so never in the
// badge or the counts of my work.

import { activeDeadline, caseColour, slaStatus } from "/static/shared/cases.js";
import { countdown, esc, lang, sourceName, stateName, t } from "/static/shared/i18n.js";
import { isMine, isOthers, relationOf, S } from "./store.js";
import { $, $$, categoryName, contentOf, isConfidential, placeOf } from "./ui.js";
import { w } from "./words.js";

const TICK_MS = 30000;
const cardEls = new Map(); // case_id → its <li>, kept across renders
let renderQueued = false;

function dueOf(c) {
  const d = activeDeadline(c);
  return d ? Date.parse(d.due) : Infinity;
}

const TABS = { mine: isMine, others: isOthers };

function listOf(tab) {
  return [...S.cases.values()].filter(TABS[tab] || isMine)
    .sort((a, b) => dueOf(a) - dueOf(b) || String(a.created_at).localeCompare(String(b.created_at)));
}

function myQueue() { return listOf(S.tab); }

/** The case ids a tab lists, in order (for diagnostics and tests). */
export function tabIds(tab) { return listOf(tab).map((c) => c.case_id); }

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
  // The badge and the first tab count my unit's work only, whichever tab is shown.
  const mine = S.tab === "mine" ? all : listOf("mine");
  const toSign = mine.filter((c) => c.state === "dispatched").length;
  const others = S.tab === "others" ? all.length : listOf("others").length;
  const badge = $("#nav-badge");
  badge.textContent = String(toSign > 99 ? "99+" : toSign);
  badge.hidden = toSign === 0;
  $("#queue-tabs").innerHTML = [["mine", mine.length], ["others", others]].map(([tab, n]) => `<button type="button"
    role="tab" class="tab" data-tab="${tab}" data-count="${n}" aria-selected="${S.tab === tab}">${
    esc(w(`queue.tab.${tab}`))} <b>${n}</b></button>`).join("");
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
  const empty = S.tab === "others" ? w("queue.others_empty") : t("queue.empty");
  el.innerHTML = stale + (visibleQueue().length ? "" : `<p class="empty">${esc(empty)}</p>`);
}

function cardHtml(c, now) {
  const status = slaStatus(c, now);
  const lead = (c.units || {}).lead;
  const ticket = (c.report || {}).ticket_no;
  const relation = relationOf(c);
  return `<button type="button" class="card sla-${status || "none"}" data-open="${esc(c.case_id)}"
      style="--c:${esc(caseColour(c, now))}">
    <span class="card-top"><span class="card-cat">${esc(categoryName(c))}</span>${isConfidential(c)
      ? `<span class="card-conf">${esc(w("queue.confidential"))}</span>` : ""}${relation === "assist" || relation === "watch"
      ? `<span class="card-rel rel-${relation}">${esc(w(`queue.rel.${relation}`))}</span>` : ""}${c.incident
      ? `<span class="card-incident" data-field="incident">${esc(w("incident.short"))}</span>` : ""}
      <span class="state state-${esc(c.state)}">${esc(stateName(c.state))}</span></span>
    <span class="card-due" data-due-for="${esc(c.case_id)}">${esc(deadlineText(c, now))}</span>
    <span class="card-place">${esc(placeOf(c) || (c.report || {}).address || "")}</span>
    <span class="card-content">${esc(contentOf(c))}</span>
    ${relation !== "mine" && lead ? `<span class="card-lead">${esc(w("queue.lead"))}: ${esc(lead.name)}</span>` : ""}
    <span class="card-meta">${esc(sourceName(c.source))}${ticket ? ` · ${esc(ticket)}` : ""}</span>
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
    const sig = `${c.version}|${lang()}|${slaStatus(c, now)}|${relationOf(c)}`;
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
  $("#queue-tabs").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-tab]");
    if (!b || S.tab === b.dataset.tab) return;
    S.tab = b.dataset.tab;
    S.filter = "all";
    renderQueue();
    renderQueueStatus();
  });
  $("#counts").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-filter]");
    if (!b) return;
    S.filter = S.filter === b.dataset.filter ? "all" : b.dataset.filter;
    renderQueue();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
  setInterval(tick, TICK_MS);
}
