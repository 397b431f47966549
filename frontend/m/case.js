// The case screen: what the handler must know at a glance (state, deadline with a live countdown, place,
// content), photos, big buttons for exactly the actions the hub offers this user now, and the timeline.
// While the full case loads over a slow link, the feed's summary of it is shown.

import { activeDeadline, caseColour, deadlineStates, slaStatus } from "/static/shared/cases.js";
import {
  actorText, categoryPath, channelName, countdown, esc, eventName, explanationText, formatTime, sourceName, stateName, t,
} from "/static/shared/i18n.js";
import { officerHtml } from "/static/shared/duty.js";
import { actionForm, collectDraft, FORM_ACTIONS, runAction } from "./forms.js";
import { loadPhoto, observePhotos, openViewer, releasePhotos } from "./photos.js";
import { scheduleRender } from "./queue.js";
import { api, draftFor, putCase, relationOf, S, sessionEnded } from "./store.js";
import { $, categoryName, contentOf, failureText, isConfidential, isHidden, placeOf, shortTime } from "./ui.js";
import { w } from "./words.js";

// The actions this console offers (others, e.g. push_down, belong to the desktop console).
const HANDLER_ACTIONS = ["accept", "progress", "resolve", "request_extension", "return", "comment"];

export async function openCase(id) {
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
    putCase(doc, { onlyMine: true });
    if (S.form && !(doc.allowed_actions || []).includes(S.form)) S.form = null;
  } catch (err) {
    if (err.status === 401) { sessionEnded(); return; }
    if (!S.open || S.open.id !== id) return;
    S.open.error = err;
  } finally {
    if (S.open && S.open.id === id) S.open.loading = false;
  }
  if (S.view === "case") renderCase();
  scheduleRender();
}

export function closeCase() {
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
  const path = categoryPath(c).slice(0, -1).join(" / ");
  const address = isHidden(c) ? "" : (report.address || "");
  const deadlineRows = deadlineStates(c).map((d) => {
    const current = active && active.key === d.key;
    return `<li class="${current ? "active" : ""}${d.met ? " done" : ""}" data-deadline="${esc(d.key)}"><span>${esc(t(`deadline.${d.key}`))}</span>
      <time>${esc(shortTime(d.due))}</time>${current ? `<b data-countdown="${esc(d.due)}">${esc(countdown(d.due))}</b>`
      : d.met ? `<em>✓ ${esc(t(`deadline.met.${d.key}`, { at: shortTime(d.met) }))}${d.late ? ` · ${esc(t("deadline.late"))}` : ""}</em>` : ""}</li>`;
  }).join("");
  const lead = (c.units || {}).lead;
  const facts = [
    [t("case.reporter"), [reporter.name, reporter.phone].filter(Boolean).join(" ")],
    [t("case.source"), sourceName(c.source)],
    [w("case.channel"), report.channel && report.channel !== c.source ? channelName(report.channel) : ""],
    [w("case.urgency"), report.urgency ? w(`urgency.${report.urgency}`) : ""],
    [t("case.ticket"), report.ticket_no || ""],
    [w("case.reported_at"), shortTime(report.reported_at || c.created_at)],
    [w("case.lead_unit"), lead ? lead.name : ""],
    [w("case.explanation"), explanationText(c.explanation_facts, c.explanation)],
  ].filter(([, v]) => v);
  const extension = c.extension && c.extension.until
    ? `<p class="notice info">${esc(w("case.extension_pending", { until: formatTime(c.extension.until) }))}</p>` : "";
  const progress = c.last_progress && c.last_progress.note
    ? `<p class="sub"><b>${esc(w("case.last_progress"))}</b> ${esc(c.last_progress.note)}</p>` : "";
  const resolution = c.resolution && c.resolution.note
    ? `<p class="sub"><b>${esc(w("case.resolution"))}</b> ${esc(c.resolution.note)}</p>` : "";
  return `<article class="essentials" style="--c:${esc(caseColour(c))}">
    <div class="ess-top"><span class="state state-${esc(c.state)}">${esc(stateName(c.state))}</span>
      ${status ? `<span class="sla-pill sla-${status}">${esc(t(`sla.${status}`))}</span>` : ""}
      ${c.incident ? `<span class="incident-pill" data-field="incident">${esc(w("incident.pill", { title: c.incident.title }))}</span>` : ""}</div>
    <h2 class="ess-cat">${esc(categoryName(c))}${path ? `<small>${esc(path)}</small>` : ""}</h2>
    ${active ? `<p class="ess-due sla-${status}">${esc(t(`deadline.${active.key}`))}
      <b data-countdown="${esc(active.due)}">${esc(countdown(active.due))}</b></p>` : ""}
    <p class="ess-place"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 22s7-7.2 7-12.5A7 7 0 0 0 5 9.5C5 14.8 12 22 12 22z"/><circle cx="12" cy="9.5" r="2.5"/></svg>${esc([address, placeOf(c)].filter(Boolean).join(" · ") || "—")}</p>
    ${isConfidential(c) && !isHidden(c) ? `<p class="notice warn confidential-note">${esc(w("case.confidential_shown"))}</p>` : ""}
    <p class="ess-content${isHidden(c) ? " confidential" : ""}">${esc(contentOf(c))}</p>
    ${extension}${progress}${resolution}
    <dl class="facts">${facts.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join("")}${dutyRow(c)}</dl>
    ${deadlineRows ? `<h3>${esc(t("case.deadlines"))}</h3><ul class="deadlines">${deadlineRows}</ul>` : ""}
  </article>`;
}

/** The lead unit's duty officer (值班) now, with the number to call when the hub shows it to this user. */
function dutyRow(c) {
  if (!c.duty_officer) return "";
  return `<div data-field="duty-officer"><dt>${esc(t("duty.officer"))}</dt><dd>${officerHtml(c.duty_officer)}</dd></div>`;
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

/** Why a case my unit does not lead offers comments only: who leads it, and what we are to it. */
function whyOnlyComments(c) {
  const relation = relationOf(c);
  const lead = (c.units || {}).lead;
  if ((relation !== "assist" && relation !== "watch") || !lead) return "";
  return `<p class="notice info why-comments" data-relation="${relation}">${esc(w(`case.why.${relation}`, { lead: lead.name }))}</p>`;
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
    const who = actorText(e);
    return `<li><div class="tl-head"><b>${esc(eventName(e.type))}</b><time>${esc(shortTime(e.occurred_at))}</time></div>
      ${bits.length ? `<p>${esc(bits.join(" · "))}</p>` : ""}${who ? `<small>${esc(w("case.actor"))}: ${esc(who)}</small>` : ""}</li>`;
  };
  return `<details class="timeline" ${S.timelineOpen ? "open" : ""}><summary>${esc(w("case.timeline_count", { n: items.length }))}</summary>
    <ol>${items.map(line).join("")}</ol></details>`;
}

export function renderCase() {
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
    ${whyOnlyComments(c)}${actionButtons(c)}${actionForm(c)}
    ${timelineHtml(c)}`;
  observePhotos();
  if (focus && S.form) { const el = $(`[data-form] [name="${focus}"]`, root); if (el) el.focus(); }
}

function onCaseClick(ev) {
  const target = ev.target.closest("button, [data-photo]");
  if (!target || !S.open) return;
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
  if (!FORM_ACTIONS.has(action)) { runAction(action, SCREEN); return; }
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
  runAction(form.dataset.form, SCREEN);
}

const SCREEN = { render: renderCase, reload: loadCase }; // what an action does to this screen

/** A feed event changed the open case: say so without pulling it away from under the user. */
export function showCaseChanged() {
  const banner = $("#case-changed");
  if (banner) banner.hidden = false;
}

export function wireCase() {
  const caseView = $("#view-case");
  caseView.addEventListener("click", onCaseClick);
  caseView.addEventListener("input", onCaseInput);
  caseView.addEventListener("change", (ev) => { if (ev.target.type === "file" || ev.target.tagName === "SELECT") onCaseInput(ev); });
  caseView.addEventListener("submit", onCaseSubmit);
  caseView.addEventListener("toggle", (ev) => { if (ev.target.matches(".timeline")) S.timelineOpen = ev.target.open; }, true);
}
