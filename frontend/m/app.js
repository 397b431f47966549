// The township mobile console (/m/): a handler's queue sorted by deadline with live countdowns, the case
// screen with exactly the actions the hub offers, and patrol reports with GPS and photos. Phone first:
// big touch targets, small payloads, every request can time out and be retried without losing input.

import { Api, ApiError } from "/static/shared/api.js";
import { LiveFeed } from "/static/shared/feed.js";
import {
  t, lang, setLang, onLangChange, stateName, eventName, sourceName, formatTime, countdown, esc, translate,
} from "/static/shared/i18n.js";
import { activeDeadline, slaStatus, caseColour } from "/static/shared/cases.js";
import { w, translateWords } from "./words.js";

const api = new Api("cityloop.m");
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// States in which a township handler has something to do (or waits on a review of what they did).
const WORKING = new Set(["dispatched", "accepted", "return_requested"]);
// The actions this console offers (others, e.g. push_down, belong to the desktop console).
const HANDLER_ACTIONS = ["accept", "progress", "resolve", "request_extension", "return", "comment"];
const FORM_ACTIONS = new Set(["progress", "resolve", "request_extension", "return", "comment"]);
const RETURN_REASONS = ["not_our_remit", "wrong_area", "unclear_ownership"];
const FINISHED = new Set(["closed", "rejected", "merged"]);
const TICK_MS = 30000;
const PHOTO_TIMEOUT_MS = 60000;
const SHRINK_OVER_BYTES = 1500000; // a camera photo above this is scaled down before a slow upload
const SHRINK_TO_PX = 1600;

const S = {
  config: null,
  areaName: "",
  cases: new Map(), // case_id → the case as the feed last gave it
  snapshot: false, // the first snapshot has arrived
  filter: "all",
  view: null,
  open: null, // {id, doc, loading, error, changed, notice: {kind, text}, fieldErrors: {}}
  form: null, // the action whose form is open
  busy: null, // {action, text}: an action in flight
  retry: null, // the action to retry after a network failure
  drafts: new Map(), // `${caseId}:${action}` → {note, reason, until, files: File[], uploaded: Map<File, id>}
  fresh: new Set(), // cases that arrived after the snapshot: flash once
  report: newReportDraft(),
  gps: { state: "idle" }, // idle | locating | ok | failed | unsupported
  photoUrls: new Map(), // photo_id → object URL (revoked when the case screen closes)
  timelineOpen: false,
};
let feed = null;
const cardEls = new Map();
let renderQueued = false;

window.cityloop = {
  get feed() { return feed; },
  queueIds: () => visibleQueue().map((c) => c.case_id),
};

// --- helpers ------------------------------------------------------------------------------------------

function newReportDraft() {
  const random = (globalThis.crypto && crypto.randomUUID) ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
  return { id: `m-${random}`, files: [], sending: false, result: null };
}

function toast(text, kind = "ok") {
  const el = $("#toast");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 3500);
}

function categoryName(c) {
  const path = (c.category && c.category.path) || [];
  if (path.length) return path[path.length - 1];
  const code = (c.report || {}).category;
  const known = S.config && S.config.categories.find((x) => x.category === code || x.code === code);
  return known ? known.name : (code || "—");
}

function placeOf(c) {
  const a = c.areas || {};
  return [a.township, a.community, a.grid].filter(Boolean).map((x) => x.name).join(" · ");
}

function isConfidential(c) { return Boolean((c.report || {}).confidential); }

function contentOf(c) {
  if (isConfidential(c)) return t("case.confidential");
  return (c.report || {}).content || "";
}

function isMine(c) {
  const area = api.session && api.session.area;
  if (!area || !WORKING.has(c.state)) return false;
  const lead = (c.units || {}).lead;
  if (lead && lead.code === `${area}-gov`) return true;
  return Object.values(c.areas || {}).some((a) => a && a.code === area);
}

function ledByMe(c) {
  const lead = (c.units || {}).lead;
  return Boolean(lead && api.session && lead.code === `${api.session.area}-gov`);
}

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

function visibleQueue() { return myQueue().filter((c) => matchesFilter(c, S.filter)); }

function deadlineText(c, now = Date.now()) {
  const d = activeDeadline(c);
  if (!d) return "";
  const paused = c.state === "return_requested" || (c.sla && c.sla.paused_at);
  return `${t(`deadline.${d.key}`)} ${paused ? w("queue.paused") : countdown(d.due, now)}`;
}

function fieldsByName(err) {
  const out = {};
  for (const f of (err && err.fields) || []) {
    const name = String(f.field || "body").split(".")[0];
    out[name] = out[name] ? `${out[name]}; ${f.message}` : f.message;
  }
  return out;
}

function failureText(err) {
  if (!(err instanceof ApiError)) return `${t("action.failed")}: ${String(err && err.message || err)}`;
  if (err.status === 0) return /abort/i.test(err.message) ? w("act.timeout") : w("act.network");
  return `${t("action.failed")}: ${err.describe()}`;
}

/** formatTime without this year's year: 11月23日 10:00 / 11-23 10:00. */
function shortTime(iso) {
  const text = formatTime(iso);
  const year = String(new Date(Date.now() + 8 * 3600 * 1000).getUTCFullYear());
  return text.startsWith(`${year}年`) ? text.slice(5) : text.startsWith(`${year}-`) ? text.slice(5) : text;
}

// --- sign-in ------------------------------------------------------------------------------------------

function showLogin(message = "") {
  $("#login-view").hidden = false;
  $("#app").hidden = true;
  $("#nav").hidden = true;
  $("#login-error").textContent = message;
  setConn("offline");
  const user = $("#login [name=username]");
  if (!user.value) user.focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const button = $("#login-submit");
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) { $("#login-error").textContent = t("login.failed"); return; }
  button.disabled = true;
  button.textContent = w("login.busy");
  $("#login-error").textContent = "";
  try {
    await api.login(username, password);
    form.password.value = "";
    enterApp();
  } catch (err) {
    $("#login-error").textContent = err.status === 401 || err.status === 403 || err.status === 422
      ? t("login.failed") : failureText(err);
  } finally {
    button.disabled = false;
    button.textContent = t("login.submit");
  }
}

function signOut(message = "") {
  if (feed) feed.stop();
  feed = null;
  api.logout();
  S.cases.clear();
  S.snapshot = false;
  S.config = null;
  S.open = null;
  S.drafts.clear();
  cardEls.clear();
  $("#queue").innerHTML = "";
  if (location.hash) history.replaceState(null, "", location.pathname);
  showLogin(message);
}

function enterApp() {
  $("#login-view").hidden = true;
  $("#app").hidden = false;
  $("#nav").hidden = false;
  loadConfig();
  feed = new LiveFeed({
    token: () => api.token,
    areas: [],
    onSnapshot,
    onEvents,
    onStatus: setConn,
    checkAuth: () => api.stillSignedIn(),
    onUnauthorized: () => signOut(t("login.failed")),
  });
  feed.start();
  route();
}

async function loadConfig() {
  try {
    S.config = await api.get("/api/v1/console/config");
    fillCategories();
    if (S.view === "me") renderMe();
    loadAreaName();
  } catch (err) {
    if (err.status === 401) signOut();
    else setTimeout(() => { if (api.signedIn && !S.config) loadConfig(); }, 5000);
  }
}

async function loadAreaName() {
  const area = api.session && api.session.area;
  if (!area || area.length <= 6) return;
  const parent = area.length === 9 ? area.slice(0, 6) : area.slice(0, area.length - 3);
  try {
    const body = await api.get("/api/v1/areas", { parent });
    const mine = (body.areas || []).find((a) => a.code === area);
    if (mine) { S.areaName = mine.name; if (S.view === "me") renderMe(); }
  } catch { /* the code alone is shown */ }
}

// --- the live feed ------------------------------------------------------------------------------------

function setConn(status) {
  const el = $("#conn");
  el.dataset.status = status;
  $(".conn-text", el).textContent = t(`conn.${status}`);
  if (S.view === "queue") renderQueueStatus();
  if (S.view === "me") renderMe();
}

function onSnapshot(cases) {
  S.cases.clear();
  for (const c of cases) S.cases.set(c.case_id, c);
  S.snapshot = true;
  scheduleRender();
}

function onEvents(events) {
  for (const e of events) {
    const c = e.case;
    if (!c) continue;
    const old = S.cases.get(e.case_id);
    if (!old || (c.version ?? 0) >= (old.version ?? 0)) {
      if (FINISHED.has(c.state) && !(S.open && S.open.id === e.case_id)) S.cases.delete(e.case_id);
      else S.cases.set(e.case_id, c);
    }
    if (!old && S.snapshot && isMine(c)) S.fresh.add(e.case_id);
    if (S.open && S.open.id === e.case_id && S.open.doc && (c.version ?? 0) > S.open.doc.version) {
      S.open.changed = true;
      const banner = $("#case-changed");
      if (banner) banner.hidden = false;
    }
  }
  scheduleRender();
}

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderQueue();
  });
}

// --- my queue -----------------------------------------------------------------------------------------

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

function renderQueueStatus() {
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

function renderQueue() {
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

// --- the case screen ----------------------------------------------------------------------------------

function draftFor(caseId, action) {
  const key = `${caseId}:${action}`;
  if (!S.drafts.has(key)) S.drafts.set(key, { note: "", reason: "", until: "", files: [], uploaded: new Map() });
  return S.drafts.get(key);
}

async function openCase(id) {
  if (!S.open || S.open.id !== id) {
    releasePhotos();
    S.open = { id, doc: null, loading: true, error: null, changed: false, notice: null, fieldErrors: {} };
    S.form = null;
    S.retry = null;
    S.timelineOpen = false;
  }
  renderCase();
  await loadCase(id);
}

async function loadCase(id) {
  if (!S.open || S.open.id !== id) return;
  S.open.loading = true;
  const reloadButton = $("#view-case [data-act=reload]");
  if (reloadButton) reloadButton.disabled = true;
  try {
    const doc = await api.get(`/api/v1/cases/${encodeURIComponent(id)}`);
    if (!S.open || S.open.id !== id) return;
    S.open.doc = doc;
    S.open.error = null;
    S.open.changed = false;
    const known = S.cases.get(id);
    if (!known || doc.version >= (known.version ?? 0)) {
      const { timeline: _t, allowed_actions: _a, ...summary } = doc;
      if (known || isMine(summary)) S.cases.set(id, summary);
    }
    if (S.form && !(doc.allowed_actions || []).includes(S.form)) S.form = null;
  } catch (err) {
    if (err.status === 401) { signOut(); return; }
    if (!S.open || S.open.id !== id) return;
    S.open.error = err;
  } finally {
    if (S.open && S.open.id === id) S.open.loading = false;
  }
  if (S.view === "case") renderCase();
  scheduleRender();
}

function closeCase() {
  releasePhotos();
  S.open = null;
  S.form = null;
  S.busy = null;
}

function caseEssentials(c) {
  const report = c.report || {};
  const reporter = report.reporter || {};
  const active = activeDeadline(c);
  const status = slaStatus(c);
  const path = ((c.category || {}).path || []).slice(0, -1).join(" / ");
  const address = isConfidential(c) ? "" : (report.address || "");
  const deadlines = c.deadlines || {};
  const deadlineRows = ["sign_by", "resolve_by", "callback_by"].filter((k) => deadlines[k]).map((k) => {
    const current = active && active.key === k;
    const signed = k === "sign_by" && c.accepted_at;
    return `<li class="${current ? "active" : ""}${signed ? " done" : ""}"><span>${esc(t(`deadline.${k}`))}</span>
      <time>${esc(shortTime(deadlines[k]))}</time>${current ? `<b data-countdown="${esc(deadlines[k])}">${esc(countdown(deadlines[k]))}</b>`
      : signed ? `<em>✓ ${esc(w("case.signed", { at: shortTime(c.accepted_at) }))}</em>` : ""}</li>`;
  }).join("");
  const lead = (c.units || {}).lead;
  const facts = [
    [t("case.reporter"), [reporter.name, reporter.phone].filter(Boolean).join(" ")],
    [t("case.source"), sourceName(c.source)],
    [w("case.urgency"), report.urgency ? w(`urgency.${report.urgency}`) : ""],
    [t("case.ticket"), report.ticket_no || ""],
    [w("case.reported_at"), shortTime(report.reported_at || c.created_at)],
    [w("case.lead_unit"), lead ? lead.name : ""],
  ].filter(([, v]) => v);
  const extension = c.extension && c.extension.until
    ? `<p class="notice info">${esc(w("case.extension_pending", { until: formatTime(c.extension.until) }))}</p>` : "";
  const progress = c.last_progress && c.last_progress.note
    ? `<p class="sub"><b>${esc(w("case.last_progress"))}</b> ${esc(c.last_progress.note)}</p>` : "";
  const resolution = c.resolution && c.resolution.note
    ? `<p class="sub"><b>${esc(w("case.resolution"))}</b> ${esc(c.resolution.note)}</p>` : "";
  return `<article class="essentials" style="--c:${esc(caseColour(c))}">
    <div class="ess-top"><span class="state state-${esc(c.state)}">${esc(stateName(c.state))}</span>
      ${status ? `<span class="sla-pill sla-${status}">${esc(t(`sla.${status}`))}</span>` : ""}</div>
    <h2 class="ess-cat">${esc(categoryName(c))}${path ? `<small>${esc(path)}</small>` : ""}</h2>
    ${active ? `<p class="ess-due sla-${status}">${esc(t(`deadline.${active.key}`))}
      <b data-countdown="${esc(active.due)}">${esc(countdown(active.due))}</b></p>` : ""}
    <p class="ess-place"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 22s7-7.2 7-12.5A7 7 0 0 0 5 9.5C5 14.8 12 22 12 22z"/><circle cx="12" cy="9.5" r="2.5"/></svg>${esc([address, placeOf(c)].filter(Boolean).join(" · ") || "—")}</p>
    <p class="ess-content${isConfidential(c) ? " confidential" : ""}">${esc(contentOf(c))}</p>
    ${extension}${progress}${resolution}
    <dl class="facts">${facts.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join("")}</dl>
    ${deadlineRows ? `<h3>${esc(t("case.deadlines"))}</h3><ul class="deadlines">${deadlineRows}</ul>` : ""}
  </article>`;
}

function casePhotos(c) {
  const ids = [];
  for (const id of (c.report || {}).photos || []) ids.push({ id, at: (c.report || {}).reported_at });
  for (const e of c.timeline || []) {
    if (e.type === "case.progressed") for (const id of (e.data || {}).photos || []) ids.push({ id, at: e.occurred_at });
  }
  const seen = new Set();
  return ids.filter((p) => !seen.has(p.id) && seen.add(p.id));
}

function photosHtml(c) {
  const photos = casePhotos(c);
  if (!photos.length) return "";
  return `<section class="photos"><h3>${esc(t("case.photos"))} <small>${photos.length}</small></h3>
    <div class="photo-grid">${photos.map((p) => {
      const url = S.photoUrls.get(p.id);
      return `<button type="button" class="photo${url ? " loaded" : ""}" data-photo="${esc(p.id)}">
        ${url ? `<img src="${esc(url)}" alt="">` : `<span>${esc(w("case.photo_tap"))}</span>`}</button>`;
    }).join("")}</div></section>`;
}

function actionButtons(c) {
  const offered = HANDLER_ACTIONS.filter((a) => (c.allowed_actions || []).includes(a));
  if (!offered.length) return `<p class="muted no-actions act-section">${esc(w("case.no_actions"))}</p>`;
  // Sticky at the bottom while the case is read above it: the next step is always one tap away.
  return `<div class="actions act-section">${offered.map((a) => {
    const busy = S.busy && S.busy.action === a;
    return `<button type="button" class="btn act act-${a}${a === "accept" || a === "resolve" ? " primary" : ""}"
      data-action="${a}" aria-expanded="${S.form === a}" aria-busy="${Boolean(busy)}" ${S.busy ? "disabled" : ""}>${
      esc(busy && !FORM_ACTIONS.has(a) ? S.busy.text : w(`act.${a}`))}</button>`;
  }).join("")}</div>`;
}

function errorFor(name) {
  const message = S.open && S.open.fieldErrors[name];
  return `<small class="err" data-err="${name}">${message ? esc(message) : ""}</small>`;
}

function chinaLocalInput(iso) {
  // "YYYY-MM-DDTHH:MM" of a datetime-local input, in China time whatever the phone's zone.
  const d = new Date(Date.parse(iso) + 8 * 3600 * 1000);
  return d.toISOString().slice(0, 16);
}

function actionForm(c) {
  const action = S.form;
  if (!action) return "";
  const d = draftFor(c.case_id, action);
  const busy = Boolean(S.busy);
  const noteLabel = { progress: "form.note.progress", resolve: "form.note.resolve", comment: "form.note.comment",
    return: "form.note.return", request_extension: "form.ext_reason" }[action];
  let fields = "";
  if (action === "return") {
    fields += `<label class="field"><span>${esc(w("form.reason"))}</span><select name="reason" required>
      <option value="">${esc(w("form.reason.pick"))}</option>${RETURN_REASONS.map((r) => `<option value="${r}"
      ${d.reason === r ? "selected" : ""}>${esc(w(`reason.${r}`))}</option>`).join("")}</select>${errorFor("reason")}</label>`;
  }
  if (action === "request_extension") {
    const due = (c.deadlines || {}).resolve_by;
    if (!d.until && due) d.until = chinaLocalInput(new Date(Date.parse(due) + 86400000).toISOString());
    fields += `<label class="field"><span>${esc(w("form.until"))}</span><input type="datetime-local" name="until"
      value="${esc(d.until)}" ${due ? `min="${esc(chinaLocalInput(due))}"` : ""} required>
      ${due ? `<small class="hint">${esc(w("form.until.after", { due: formatTime(due) }))}</small>` : ""}${errorFor("until")}</label>`;
  }
  const noteName = action === "request_extension" ? "reason_text" : "note";
  fields += `<label class="field"><span>${esc(w(noteLabel))}</span><textarea name="${noteName}" rows="4"
    maxlength="2000" required>${esc(d.note)}</textarea>${errorFor(action === "request_extension" ? "reason" : "note")}</label>`;
  if (action === "progress") {
    fields += `<div class="field"><span>${esc(w("form.photo"))}</span>
      <div class="thumbs">${d.files.map((f, i) => `<span class="thumb"><img src="${esc(thumbUrl(f))}" alt="">
        <button type="button" class="thumb-x" data-remove-photo="${i}" aria-label="${esc(w("form.photo.remove"))}">×</button></span>`).join("")}</div>
      <label class="btn ghost photo-btn"><input class="sr-only" type="file" name="photo" accept="image/*" capture="environment">
        <span>${esc(w("form.photo.take"))}${d.files.length ? ` · ${esc(w("report.photo_count", { n: d.files.length }))}` : ""}</span></label>
      ${errorFor("photos")}</div>`;
  }
  const submitText = busy ? S.busy.text : (S.retry === action ? w("act.retry") : t("action.submit"));
  return `<form class="action-form" data-form="${action}" novalidate>
    <h3>${esc(w(`act.${action}`))}</h3>${fields}
    <div class="form-buttons"><button type="button" class="btn ghost" data-act="cancel-form" ${busy ? "disabled" : ""}>${esc(t("action.cancel"))}</button>
      <button type="submit" class="btn primary" ${busy ? "disabled" : ""} aria-busy="${busy}">${esc(submitText)}</button></div>
  </form>`;
}

function timelineHtml(c) {
  const items = (c.timeline || []).slice().reverse();
  if (!items.length) return "";
  const line = (e) => {
    const data = e.data || {};
    const bits = [];
    if (e.type === "case.dispatched" && data.lead) bits.push(`→ ${data.lead.name}`);
    if (data.reason) bits.push(w(`reason.${data.reason}`) === `reason.${data.reason}` ? data.reason : w(`reason.${data.reason}`));
    if (data.until) bits.push(`${w("form.until")}: ${formatTime(data.until)}`);
    if (data.note) bits.push(data.note);
    if (data.photos && data.photos.length) bits.push(`${t("case.photos")} ×${data.photos.length}`);
    const actor = String(e.actor || "");
    const who = actor.includes(":") ? actor.split(":").slice(1).join(":") : actor;
    return `<li><div class="tl-head"><b>${esc(eventName(e.type))}</b><time>${esc(shortTime(e.occurred_at))}</time></div>
      ${bits.length ? `<p>${esc(bits.join(" · "))}</p>` : ""}${who ? `<small>${esc(w("case.actor"))}: ${esc(who)}</small>` : ""}</li>`;
  };
  return `<details class="timeline" ${S.timelineOpen ? "open" : ""}><summary>${esc(w("case.timeline_count", { n: items.length }))}</summary>
    <ol>${items.map(line).join("")}</ol></details>`;
}

function renderCase() {
  const root = $("#view-case");
  const o = S.open;
  if (!o) { root.innerHTML = ""; return; }
  const head = `<div class="case-head"><button type="button" class="btn ghost back" data-act="back">‹ ${esc(w("case.back"))}</button>
    <span class="case-id">${esc((o.doc && (o.doc.report || {}).ticket_no) || "")}</span>
    <button type="button" class="btn ghost" data-act="reload" ${o.loading ? "disabled" : ""}>${esc(w("case.reload"))}</button></div>
    <div id="case-changed" class="notice info" ${o.changed ? "" : "hidden"}>${esc(w("case.changed"))}</div>
    ${o.notice ? `<div id="case-notice" class="notice ${esc(o.notice.kind)}" role="alert">${esc(o.notice.text)}</div>` : ""}`;
  if (!o.doc) {
    const summary = S.cases.get(o.id);
    if (o.error) {
      const text = o.error.status === 404 || o.error.status === 403 ? w("case.not_found") : `${w("case.load_failed")}: ${failureText(o.error)}`;
      root.innerHTML = `${head}<div class="notice warn" role="alert">${esc(text)}</div>
        <button type="button" class="btn primary block" data-act="reload">${esc(w("act.retry"))}</button>`;
    } else {
      // Slow link: show what the feed already knows while the full case (actions, timeline) loads.
      root.innerHTML = `${head}${summary ? caseEssentials(summary) : ""}
        <div class="sk-block" aria-busy="true"><p class="muted loading-text">${esc(w("case.loading"))}</p><i></i><i></i></div>`;
    }
    return;
  }
  const c = o.doc;
  const focus = document.activeElement && document.activeElement.name;
  root.innerHTML = `${head}${caseEssentials(c)}${photosHtml(c)}
    ${actionButtons(c)}${actionForm(c)}
    ${timelineHtml(c)}`;
  observePhotos();
  if (focus && S.form) { const el = $(`[data-form] [name="${focus}"]`, root); if (el) el.focus(); }
}

// --- photos: fetched with the bearer token, lazily, as object URLs ------------------------------------

const thumbUrls = new WeakMap();
function thumbUrl(file) {
  if (!thumbUrls.has(file)) thumbUrls.set(file, URL.createObjectURL(file));
  return thumbUrls.get(file);
}

let photoObserver = null;
function slowLink() {
  const c = navigator.connection;
  return Boolean(c && (c.saveData || /(^|-)2g$/.test(c.effectiveType || "")));
}

function observePhotos() {
  if (photoObserver) photoObserver.disconnect();
  if (slowLink() || !("IntersectionObserver" in window)) return; // tap to load on 2G / data saver
  photoObserver = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) { photoObserver.unobserve(entry.target); loadPhoto(entry.target); }
    }
  }, { rootMargin: "200px" });
  $$("#view-case .photo:not(.loaded)").forEach((el) => photoObserver.observe(el));
}

async function loadPhoto(button) {
  const id = button.dataset.photo;
  const caseId = S.open && S.open.id;
  if (!caseId || button.classList.contains("loading")) return;
  if (S.photoUrls.has(id)) { showPhoto(button, S.photoUrls.get(id)); return; }
  button.classList.add("loading");
  button.classList.remove("failed");
  button.innerHTML = `<span>${esc(t("loading"))}</span>`;
  try {
    const url = await api.photoUrl(caseId, id, { timeoutMs: PHOTO_TIMEOUT_MS });
    if (!S.open || S.open.id !== caseId) { URL.revokeObjectURL(url); return; }
    S.photoUrls.set(id, url);
    showPhoto(button, url);
  } catch {
    button.classList.add("failed");
    button.innerHTML = `<span>${esc(w("case.photo_failed"))}</span>`;
  } finally {
    button.classList.remove("loading");
  }
}

function showPhoto(button, url) {
  button.classList.add("loaded");
  button.innerHTML = `<img src="${esc(url)}" alt="">`;
}

function releasePhotos() {
  for (const url of S.photoUrls.values()) URL.revokeObjectURL(url);
  S.photoUrls.clear();
  if (photoObserver) photoObserver.disconnect();
}

/** A big camera photo is scaled down (1600 px, JPEG) before it crosses a slow link; small ones go as they are. */
async function shrink(file) {
  if (file.size <= SHRINK_OVER_BYTES || !window.createImageBitmap) return file;
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, SHRINK_TO_PX / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.82));
    if (!blob || blob.size >= file.size) return file;
    return new File([blob], (file.name || "photo").replace(/\.\w+$/, "") + ".jpg", { type: "image/jpeg" });
  } catch {
    return file;
  }
}

// --- actions ------------------------------------------------------------------------------------------

function collectDraft(form) {
  const d = draftFor(S.open.id, form.dataset.form);
  for (const el of form.elements) {
    if (el.name === "note" || el.name === "reason_text") d.note = el.value;
    else if (el.name === "reason") d.reason = el.value;
    else if (el.name === "until") d.until = el.value;
  }
  return d;
}

function validate(action, d, c) {
  const errors = {};
  const required = w("form.required");
  if (!d.note.trim()) errors[action === "request_extension" ? "reason" : "note"] = required;
  if (action === "return" && !d.reason) errors.reason = required;
  if (action === "request_extension") {
    const due = (c.deadlines || {}).resolve_by;
    if (!d.until) errors.until = required;
    else if (due && Date.parse(`${d.until}:00+08:00`) <= Date.parse(due)) errors.until = w("form.until.after", { due: formatTime(due) });
  }
  return errors;
}

async function runAction(action) {
  const o = S.open;
  if (!o || !o.doc || S.busy) return;
  const c = o.doc;
  const d = FORM_ACTIONS.has(action) ? draftFor(o.id, action) : null;
  if (d) {
    const form = $(`[data-form="${action}"]`);
    if (form) collectDraft(form);
    const errors = validate(action, d, c);
    if (Object.keys(errors).length) {
      o.fieldErrors = errors;
      o.notice = { kind: "warn", text: w("act.fields") };
      renderCase();
      return;
    }
  }
  o.fieldErrors = {};
  o.notice = null;
  S.busy = { action, text: w("act.sending") };
  renderCase();
  try {
    const fields = {};
    if (action === "progress") {
      const ids = [];
      for (const [i, file] of d.files.entries()) {
        if (!d.uploaded.has(file)) {
          S.busy.text = w("act.uploading", { i: i + 1, n: d.files.length });
          renderCase();
          const form = new FormData();
          form.append("photo", await shrink(file), file.name || "photo.jpg");
          const stored = await api.upload("/api/v1/photos", form);
          d.uploaded.set(file, stored.photo_id);
        }
        ids.push(d.uploaded.get(file));
      }
      S.busy.text = w("act.sending");
      renderCase();
      fields.note = d.note.trim();
      if (ids.length) fields.photos = ids;
    } else if (action === "return") {
      Object.assign(fields, { reason: d.reason, note: d.note.trim() });
    } else if (action === "request_extension") {
      Object.assign(fields, { until: `${d.until}:00+08:00`, reason: d.note.trim() });
    } else if (d) {
      fields.note = d.note.trim();
    }
    const answer = await api.act(o.id, action, c.version, fields);
    if (S.open !== o) return;
    S.drafts.delete(`${o.id}:${action}`);
    S.form = null;
    S.retry = null;
    S.busy = null;
    const updated = answer && answer.case;
    if (updated && updated.case_id) {
      const known = S.cases.get(updated.case_id);
      if (!known || updated.version >= (known.version ?? 0)) S.cases.set(updated.case_id, updated);
    }
    toast(action === "accept" ? w("act.accepted") : `${w(`act.${action}`)} · ${t("action.done")}`);
    await loadCase(o.id);
  } catch (err) {
    S.busy = null;
    if (S.open !== o) return;
    if (err instanceof ApiError && err.status === 401) { signOut(t("login.failed")); return; }
    if (err instanceof ApiError && err.status === 409) {
      o.notice = { kind: "warn", text: t("action.conflict") };
      S.retry = null;
      await loadCase(o.id); // the draft is kept: the form reopens with it if the action is still offered
      return;
    }
    if (err instanceof ApiError && err.status === 422) {
      o.fieldErrors = fieldsByName(err);
      o.notice = { kind: "warn", text: err.fields.length ? w("act.fields") : failureText(err) };
    } else if (err instanceof ApiError && err.status === 0) {
      S.retry = action;
      o.notice = { kind: "warn", text: failureText(err), retry: action };
    } else {
      o.notice = { kind: "warn", text: failureText(err) };
    }
    renderCase();
  }
}

function onCaseClick(ev) {
  const target = ev.target.closest("button, [data-photo]");
  if (!target || !S.open) return;
  if (target.dataset.act === "back") { goBack(); return; }
  if (target.dataset.act === "reload") { S.open.notice = null; loadCase(S.open.id); renderCase(); return; }
  if (target.dataset.act === "cancel-form") { S.form = null; S.open.fieldErrors = {}; S.retry = null; renderCase(); return; }
  if (target.dataset.photo) {
    const url = S.photoUrls.get(target.dataset.photo);
    if (url) openViewer(url); else loadPhoto(target);
    return;
  }
  if (target.dataset.removePhoto !== undefined && S.form) {
    const d = draftFor(S.open.id, S.form);
    d.files.splice(Number(target.dataset.removePhoto), 1);
    renderCase();
    return;
  }
  const action = target.dataset.action;
  if (!action) return;
  if (!FORM_ACTIONS.has(action)) { runAction(action); return; }
  S.form = S.form === action ? null : action;
  S.open.fieldErrors = {};
  S.retry = null;
  renderCase();
  const form = $(`[data-form="${action}"]`);
  if (form) {
    form.scrollIntoView({ block: "start", behavior: "smooth" });
    const first = $("select, textarea", form);
    if (first) first.focus({ preventScroll: true });
  }
}

function onCaseInput(ev) {
  const form = ev.target.closest("[data-form]");
  if (!form || !S.open) return;
  if (ev.target.type === "file") {
    const d = draftFor(S.open.id, form.dataset.form);
    d.files.push(...ev.target.files);
    ev.target.value = "";
    collectDraft(form);
    renderCase();
    return;
  }
  collectDraft(form);
}

function onCaseSubmit(ev) {
  const form = ev.target.closest("[data-form]");
  if (!form) return;
  ev.preventDefault();
  runAction(form.dataset.form);
}

// --- report a new problem -----------------------------------------------------------------------------

function fillCategories() {
  const select = $("#report-category");
  const chosen = select.value;
  const groups = new Map();
  for (const c of (S.config && S.config.categories) || []) {
    if (!groups.has(c.group)) groups.set(c.group, []);
    groups.get(c.group).push(c);
  }
  select.innerHTML = `<option value="">${esc(w("report.category.pick"))}</option>` + [...groups].map(([group, items]) =>
    `<optgroup label="${esc(group)}">${items.map((c) => `<option value="${esc(c.category)}">${esc(c.name)}</option>`).join("")}</optgroup>`).join("");
  select.value = chosen;
}

function locate() {
  if (!("geolocation" in navigator)) { S.gps = { state: "unsupported" }; renderGps(); return; }
  S.gps = { ...S.gps, state: "locating" };
  renderGps();
  navigator.geolocation.getCurrentPosition((pos) => {
    const { longitude: lng, latitude: lat, accuracy } = pos.coords;
    S.gps = { state: "ok", lng, lat, accuracy, at: Date.now(), place: "" };
    renderGps();
    api.get("/api/v1/route", { lng: lng.toFixed(7), lat: lat.toFixed(7), crs: "wgs84" }).then((r) => {
      const a = r.areas || {};
      const place = [a.county, a.township, a.community].filter(Boolean).map((x) => x.name).join(" ");
      if (S.gps.lng === lng && S.gps.lat === lat) { S.gps.place = place; renderGps(); }
    }).catch(() => { /* the coordinates alone are enough to report */ });
  }, (err) => {
    S.gps = { state: "failed", message: err && err.message };
    renderGps();
  }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
}

function renderGps() {
  const el = $("#gps");
  const g = S.gps;
  el.dataset.state = g.state;
  if (g.state === "ok") {
    el.innerHTML = `<b>${esc(w("report.gps.ok", { acc: Math.round(g.accuracy || 0) }))}</b>
      <span class="coords">${g.lat.toFixed(6)}, ${g.lng.toFixed(6)}</span>
      ${g.place ? `<span class="place">${esc(w("report.routes_to", { place: g.place }))}</span>` : ""}`;
  } else if (g.state === "locating") {
    el.innerHTML = `<span class="muted">${esc(t("gps.locating"))}</span>`;
  } else if (g.state === "unsupported") {
    el.innerHTML = `<span class="warn-text">${esc(w("report.gps.unsupported"))}</span>`;
  } else if (g.state === "failed") {
    el.innerHTML = `<span class="warn-text">${esc(t("gps.failed"))}${g.message ? ` (${esc(g.message)})` : ""}</span>`;
  } else {
    el.innerHTML = "";
  }
  $("#report-address").required = g.state !== "ok";
}

function renderReportThumbs() {
  const files = S.report.files;
  $("#report-thumbs").innerHTML = files.map((f, i) => `<span class="thumb"><img src="${esc(thumbUrl(f))}" alt="">
    <button type="button" class="thumb-x" data-remove-report-photo="${i}" aria-label="${esc(w("form.photo.remove"))}">×</button></span>`).join("");
  $("#report-form .photo-btn span").textContent = files.length
    ? `${w("form.photo.take")} · ${w("report.photo_count", { n: files.length })}` : w("form.photo.take");
}

function showReportErrors(errors) {
  for (const el of $$("#report-form [data-err]")) el.textContent = errors[el.dataset.err] || "";
}

function reportNotice(text, kind = "warn") {
  const el = $("#report-notice");
  el.textContent = text || "";
  el.dataset.kind = kind;
  el.hidden = !text;
}

async function submitReport(ev) {
  ev.preventDefault();
  const r = S.report;
  if (r.sending) return;
  const form = $("#report-form");
  const category = form.category.value;
  const content = form.content.value.trim();
  const address = form.address.value.trim();
  const errors = {};
  if (!category) errors.category = w("form.required");
  if (!content) errors.content = w("form.required");
  if (S.gps.state !== "ok" && !address) errors.address = w("report.need_place");
  showReportErrors(errors);
  if (Object.keys(errors).length) {
    reportNotice(w("act.fields"));
    const first = $(`#report-form [name="${Object.keys(errors)[0]}"]`);
    if (first) { first.focus({ preventScroll: true }); first.scrollIntoView({ block: "center" }); }
    return;
  }
  reportNotice("");
  r.sending = true;
  const button = $("#report-submit");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = w("report.sending");
  try {
    const body = new FormData();
    body.append("category", category);
    body.append("content", content);
    if (S.gps.state === "ok") {
      body.append("lng", S.gps.lng.toFixed(7));
      body.append("lat", S.gps.lat.toFixed(7));
      body.append("crs", "wgs84");
    }
    if (address) body.append("address", address);
    body.append("report_id", r.id); // the same id on every retry: the hub answers with the same case
    for (const file of r.files) {
      // Without GPS the hub reads the first photo's EXIF position: only scale photos when we have a fix.
      body.append("photo", S.gps.state === "ok" ? await shrink(file) : file, file.name || "photo.jpg");
    }
    const answer = await api.upload("/api/v1/grid/reports", body);
    let created = null;
    try { created = await api.get(`/api/v1/cases/${encodeURIComponent(answer.case_id)}`); } catch { /* elsewhere */ }
    r.result = { answer, created };
    S.report = { ...newReportDraft(), result: r.result };
    form.reset();
    renderReportThumbs();
    renderReportResult();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { signOut(t("login.failed")); return; }
    const fields = fieldsByName(err);
    if (fields.lng || fields.lat) fields.lng = [fields.lng, fields.lat].filter(Boolean).join("; ");
    showReportErrors(fields);
    reportNotice(err instanceof ApiError && err.status === 0 ? failureText(err) : (err.fields && err.fields.length ? w("act.fields") : failureText(err)));
  } finally {
    r.sending = false;
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = w("report.submit");
  }
}

function renderReportResult() {
  const box = $("#report-result");
  const result = S.report.result;
  $("#report-form").hidden = Boolean(result);
  box.hidden = !result;
  if (!result) { box.innerHTML = ""; return; }
  const c = result.created;
  box.innerHTML = `<h2 class="ok-title">✓ ${esc(w("report.done"))}</h2>
    ${c ? `<p class="ess-cat">${esc(categoryName(c))}</p><p>${esc(placeOf(c))}</p>
      <p><span class="state state-${esc(c.state)}">${esc(stateName(c.state))}</span>
      ${(c.units || {}).lead ? `→ ${esc(c.units.lead.name)}` : ""}</p>` : `<p class="muted">${esc(w("report.elsewhere"))}</p>`}
    <p class="muted small">${esc(w("report.case_id"))}: <code id="report-case-id">${esc(result.answer.case_id)}</code>
      · ${esc(t("case.photos"))} ${(result.answer.photos || []).length}</p>
    <div class="form-buttons">${c ? `<button type="button" class="btn primary" data-open="${esc(result.answer.case_id)}">${esc(w("report.open"))}</button>` : ""}
      <button type="button" class="btn ghost" data-act="report-another">${esc(w("report.another"))}</button></div>`;
}

// --- 我的 -----------------------------------------------------------------------------------------------

function renderMe() {
  const s = api.session || {};
  const stats = feed ? feed.stats : { events: 0, reconnects: 0 };
  const status = $("#conn").dataset.status;
  $("#view-me").innerHTML = `<div class="card-block">
    <h2>${esc(w("me.title"))}</h2>
    <dl class="facts wide">
      <div><dt>${esc(w("me.user"))}</dt><dd>${esc(s.username || "")}</dd></div>
      <div><dt>${esc(w("me.role"))}</dt><dd>${esc(w(`role.${s.role}`))}</dd></div>
      <div><dt>${esc(w("me.area"))}</dt><dd>${esc([S.areaName, s.area].filter(Boolean).join(" · "))}</dd></div>
      <div><dt>${esc(w("me.conn"))}</dt><dd><span class="conn-inline" data-status="${esc(status)}">${esc(t(`conn.${status}`))}</span></dd></div>
      <div><dt>${esc(w("me.events"))}</dt><dd>${stats.events}</dd></div>
      <div><dt>${esc(w("me.reconnects"))}</dt><dd>${stats.reconnects}</dd></div>
    </dl>
    <button type="button" class="btn ghost block" data-act="reconnect">${esc(w("me.reconnect"))}</button>
    <button type="button" class="btn ghost block" data-act="lang">${esc(w("me.lang"))}: ${esc(t("lang.switch"))}</button>
    <button type="button" class="btn danger block" data-act="logout">${esc(t("logout"))}</button>
  </div>`;
}

// --- navigation ---------------------------------------------------------------------------------------

function route() {
  if (!api.signedIn) { showLogin(); return; }
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, id] = hash.split("/");
  const view = ["queue", "report", "me", "case"].includes(name) && (name !== "case" || id) ? name : "queue";
  if (view !== "case" && S.open) closeCase();
  S.view = view;
  for (const v of ["queue", "case", "report", "me"]) $(`#view-${v}`).hidden = v !== view;
  for (const b of $$("#nav [data-nav]")) {
    const current = b.dataset.nav === view || (view === "case" && b.dataset.nav === "queue");
    if (current) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  if (view === "queue") { renderQueue(); renderQueueStatus(); }
  if (view === "case") openCase(decodeURIComponent(id));
  if (view === "report") {
    renderReportResult();
    if (S.gps.state === "idle" || (S.gps.state === "ok" && Date.now() - S.gps.at > 120000)) locate();
    else renderGps();
  }
  if (view === "me") renderMe();
  window.scrollTo(0, 0);
}

let depth = 0; // screens opened from inside the app: "back" can use the browser history
function go(hash) {
  if (location.hash === hash) { route(); return; }
  depth += 1;
  location.hash = hash;
}

function goBack() {
  if (depth > 0) { depth -= 1; history.back(); } else { location.hash = "#/queue"; }
}

function openViewer(url) {
  const viewer = $("#viewer");
  $("img", viewer).src = url;
  viewer.hidden = false;
}

// --- wiring -------------------------------------------------------------------------------------------

function applyLang() {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  document.title = `${t("app.mobile")} · ${t("app.title")}`;
  translate(document);
  translateWords(document);
  const button = $("#lang");
  button.textContent = w("lang.short");
  button.setAttribute("aria-label", t("lang.switch"));
  setConn($("#conn").dataset.status);
  if (!api.signedIn) return;
  fillCategories();
  renderGps();
  renderReportThumbs();
  renderReportResult();
  renderQueue();
  if (S.view === "queue") renderQueueStatus();
  if (S.view === "case") renderCase();
  if (S.view === "me") renderMe();
}

function toggleLang() { setLang(lang() === "zh" ? "en" : "zh"); }

function wire() {
  $("#login").addEventListener("submit", onLogin);
  $("#lang").addEventListener("click", toggleLang);
  $("#nav").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-nav]");
    if (!b) return;
    if (b.dataset.nav === "queue" && S.view === "queue") { S.filter = "all"; renderQueue(); window.scrollTo(0, 0); return; }
    go(`#/${b.dataset.nav}`);
  });
  $("#counts").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-filter]");
    if (!b) return;
    S.filter = S.filter === b.dataset.filter ? "all" : b.dataset.filter;
    renderQueue();
  });
  document.addEventListener("click", (ev) => {
    const open = ev.target.closest("[data-open]");
    if (open) { go(`#/case/${encodeURIComponent(open.dataset.open)}`); return; }
    const act = ev.target.closest("[data-act]");
    if (!act) return;
    if (act.dataset.act === "reconnect" && feed) feed.reconnect();
    if (act.dataset.act === "logout") signOut();
    if (act.dataset.act === "lang") toggleLang();
    if (act.dataset.act === "close-viewer") $("#viewer").hidden = true;
    if (act.dataset.act === "report-another") { S.report = newReportDraft(); renderReportResult(); renderReportThumbs(); locate(); }
  });
  $("#viewer").addEventListener("click", () => { $("#viewer").hidden = true; });
  const caseView = $("#view-case");
  caseView.addEventListener("click", onCaseClick);
  caseView.addEventListener("input", onCaseInput);
  caseView.addEventListener("change", (ev) => { if (ev.target.type === "file" || ev.target.tagName === "SELECT") onCaseInput(ev); });
  caseView.addEventListener("submit", onCaseSubmit);
  caseView.addEventListener("toggle", (ev) => { if (ev.target.matches(".timeline")) S.timelineOpen = ev.target.open; }, true);
  $("#report-form").addEventListener("submit", submitReport);
  $("#gps-retry").addEventListener("click", locate);
  $("#report-photo").addEventListener("change", (ev) => {
    S.report.files.push(...ev.target.files);
    ev.target.value = "";
    renderReportThumbs();
  });
  $("#report-thumbs").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-remove-report-photo]");
    if (!b) return;
    S.report.files.splice(Number(b.dataset.removeReportPhoto), 1);
    renderReportThumbs();
  });
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
  setInterval(tick, TICK_MS);
  onLangChange(applyLang);
}

wire();
applyLang();
if (api.signedIn) enterApp(); else showLogin();
