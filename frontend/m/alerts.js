// 预警 on the phone: the open and acknowledged alerts of my township as cards at the top of 我的待办 (the
// feed brings only my jurisdiction's), live; an alert's screen (#/alert/<id>) with its evidence, the linked
// cases (each opens the case screen) and, for the roles the API allows, acknowledge with a note.

import {
  ACKNOWLEDGE_ROLES, alertFacts, alertKindName, alertLine, alertStateName, whoWhen,
} from "/static/shared/alerts.js";
import { caseColour } from "/static/shared/cases.js";
import { esc, formatTime, stateName, t } from "/static/shared/i18n.js";
import { api, putCase, S, sessionEnded } from "./store.js";
import { $, categoryName, failureText, placeOf, toast } from "./ui.js";
import { w } from "./words.js";

const LINKED_FETCH = 30;
const A = { id: null, note: "", busy: false, error: "" }; // the alert screen's state

const countyName = (code) => {
  for (const c of S.cases.values()) if (c.areas && c.areas.county && c.areas.county.code === code) return c.areas.county.name;
  return "";
};

/** The cards at the top of the queue: alerts not yet closed, open ones first. */
export function renderAlertCards() {
  const el = $("#alerts");
  if (!el) return;
  const list = S.alerts.list(["open", "acknowledged"])
    .sort((a, b) => (a.state === "open" ? 0 : 1) - (b.state === "open" ? 0 : 1));
  el.innerHTML = list.map((a) => `<button type="button" class="alert-card state-${esc(a.state)}"
      data-alert="${esc(a.alert_id)}" data-state="${esc(a.state)}">
    <span class="alert-card-top"><b>${esc(alertKindName(a.kind))}</b><span class="alert-state">${esc(alertStateName(a.state))}</span></span>
    <span class="alert-card-line">${esc(alertLine(a, countyName))}</span>
    <span class="alert-card-meta">${esc(formatTime(a.raised_at))}${a.acknowledged_by
      ? ` · ${esc(t("alert.acknowledged"))} ${esc(whoWhen(a.acknowledged_by, a.acknowledged_at))}` : ""}</span>
  </button>`).join("");
  el.hidden = !list.length;
}

export async function openAlert(id) {
  if (A.id !== id) {
    Object.assign(A, { id, note: "", busy: false, error: "" });
    const root = $("#view-alert");
    if (root) root.innerHTML = "";
  }
  renderAlert();
  if (!S.alerts.get(id)) {
    try { S.alerts.put([await api.get(`/api/v1/alerts/${encodeURIComponent(id)}`)], "rest"); } catch (err) {
      if (err.status === 401) { sessionEnded(); return; }
      A.error = failureText(err);
      renderAlert();
      return;
    }
  }
  fetchLinked(id);
}

/** Set a part of the screen only if it changed: a live update of the evidence or of the linked cases must not
 *  rebuild the form the handler is typing in. */
function setPart(el, html) {
  if (el.dataset.html === html) return false;
  el.innerHTML = html;
  el.dataset.html = html;
  return true;
}

export function renderAlert() {
  const root = $("#view-alert");
  if (!root || S.view !== "alert") return;
  if (!root.querySelector(".alert-parts")) {
    root.innerHTML = `<div class="alert-parts"><div data-part="head"></div><div data-part="detail"></div>
      <div data-part="form"></div><div data-part="cases"></div></div>`;
  }
  const part = (name) => root.querySelector(`[data-part="${name}"]`);
  const typed = $("#alert-note");
  if (typed) A.note = typed.value;
  setPart(part("head"), `<div class="case-head"><button type="button" class="btn ghost back" data-act="back">‹ ${esc(w("case.back"))}</button></div>`);
  const a = S.alerts.get(A.id);
  if (!a) {
    setPart(part("detail"), `<div class="card-block">${A.error ? `<p class="notice warn">${esc(A.error)}</p>`
      : `<p class="muted">${esc(t("loading"))}</p>`}</div>`);
    setPart(part("form"), "");
    setPart(part("cases"), "");
    return;
  }
  const rows = alertFacts(a, countyName);
  setPart(part("detail"), `<div class="card-block alert-detail state-${esc(a.state)}" data-alert-id="${esc(a.alert_id)}" data-state="${esc(a.state)}">
      <p class="alert-state">${esc(alertStateName(a.state))}</p>
      <h2>${esc(alertLine(a, countyName))}</h2>
      <dl class="facts">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("")}</dl>
    </div>`);
  const canAck = a.state === "open" && ACKNOWLEDGE_ROLES.has((api.session || {}).role);
  const rebuilt = setPart(part("form"), canAck ? `<form id="alert-ack" class="card-block" novalidate>
      <label class="field"><span>${esc(t("alert.note"))}</span>
        <textarea id="alert-note" name="note" rows="3" maxlength="1000" placeholder="${esc(t("alert.note_ph"))}"></textarea></label>
      ${A.error ? `<p class="notice warn" role="alert">${esc(A.error)}</p>` : ""}
      <button type="submit" class="btn primary block"${A.busy ? " disabled aria-busy=\"true\"" : ""}>${esc(t("alert.acknowledge"))}</button>
    </form>` : "");
  if (rebuilt && $("#alert-note")) $("#alert-note").value = A.note;
  const cases = (a.case_ids || []).map((id) => {
    const c = S.cases.get(id);
    return `<li><button type="button" class="card" data-open="${esc(id)}" style="--c:${esc(c ? caseColour(c) : "#8c8c8c")}">
      <span class="card-top"><span class="card-cat">${esc(c ? categoryName(c) : id.slice(0, 8))}</span>
      ${c ? `<span class="state state-${esc(c.state)}">${esc(stateName(c.state))}</span>` : ""}</span>
      ${c ? `<span class="card-place">${esc(placeOf(c) || (c.report || {}).address || "")}</span>` : ""}</button></li>`;
  }).join("");
  setPart(part("cases"), `<h3 class="alert-cases-title">${esc(t("alert.cases", { n: (a.case_ids || []).length }))}</h3>
    <ol class="cards alert-cases">${cases}</ol>`);
}

async function acknowledge(ev) {
  ev.preventDefault();
  const a = S.alerts.get(A.id);
  if (!a || A.busy) return;
  A.note = $("#alert-note").value;
  A.busy = true;
  A.error = "";
  renderAlert();
  try {
    const note = A.note.trim();
    const doc = await api.post(`/api/v1/alerts/${encodeURIComponent(a.alert_id)}/acknowledge`, note ? { note } : {});
    A.note = "";
    S.alerts.put([doc], "rest");
    toast(t("alert.done.acknowledge"));
  } catch (err) {
    if (err.status === 401) { sessionEnded(); return; }
    A.error = failureText(err);
  } finally {
    A.busy = false;
    renderAlert();
  }
}

/** Linked cases the feed did not bring (another unit's, finished): fetched to name them. */
async function fetchLinked(id) {
  const a = S.alerts.get(id);
  const missing = (a?.case_ids || []).filter((cid) => !S.cases.get(cid)).slice(0, LINKED_FETCH);
  let got = 0;
  await Promise.all(missing.map((cid) => api.get(`/api/v1/cases/${encodeURIComponent(cid)}`)
    .then((c) => { putCase(c); got += 1; }).catch(() => {})));
  if (got) renderAlert();
}

export function wireAlerts(go) {
  $("#alerts").addEventListener("click", (ev) => {
    const card = ev.target.closest("[data-alert]");
    if (card) go(`#/alert/${encodeURIComponent(card.dataset.alert)}`);
  });
  $("#view-alert").addEventListener("submit", (ev) => { if (ev.target.id === "alert-ack") acknowledge(ev); });
  S.alerts.on(() => { renderAlertCards(); renderAlert(); });
}
