// What the phone knows: the signed-in API client, the cases of the live feed, the screen's state and the
// drafts typed into forms. Only the functions here change the cases; the screens read `S` and render.

import { AlertBook } from "/static/shared/alerts.js";
import { Api } from "/static/shared/api.js";
import { applyCase } from "/static/shared/cases.js";

export const api = new Api("cityloop.m");

// States in which a township handler has something to do (or waits on a review of what they did).
const WORKING = new Set(["dispatched", "accepted", "return_requested"]);

export const S = {
  config: null,
  areaName: "",
  feed: null, // the LiveFeed while signed in
  cases: new Map(), // case_id → the case as the feed last gave it
  alerts: new AlertBook(), // 预警 of my jurisdiction, from the feed (and the API's answers)
  snapshot: false, // the first snapshot has arrived
  filter: "all",
  tab: "mine", // the queue's tab: "mine" (我的待办) or "others" (协办 and watched cases)
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

// --- the session ----------------------------------------------------------------------------------------

let endSession = () => {};
/** What a refused sign-in (401) does, anywhere on the phone: app.js says, once at start-up. */
export function onSessionEnd(fn) { endSession = fn; }
export function sessionEnded(message = "") { endSession(message); }

let finished = new Set(); // closed, rejected, merged...: as the hub names them, once its configuration arrived

/** The configuration of GET /api/v1/console/config. Cases that finished meanwhile can go now. */
export function setConfig(config) {
  S.config = config;
  finished = new Set(config.states.finished);
  for (const [id, c] of S.cases) if (finished.has(c.state) && !isOpen(id)) S.cases.delete(id);
}

function isOpen(id) { return Boolean(S.open && S.open.id === id); }

/** Everything the signed-in user had, gone (a new sign-in starts afresh). */
export function forgetSession() {
  S.feed = null;
  S.cases.clear();
  S.alerts.replace([]);
  S.snapshot = false;
  S.config = null;
  finished = new Set();
  S.open = null;
  S.drafts.clear();
  S.tab = "mine";
}

// --- the cases --------------------------------------------------------------------------------------------

/** The matrix unit this user works for (GET /api/v1/console/config `user.unit`); until the configuration has
 * arrived, a township handler's default: their township's government. */
export function myUnit() {
  const unit = S.config && S.config.user && S.config.user.unit;
  if (unit) return unit;
  const area = api.session && api.session.area;
  return area && !S.config ? `${area}-gov` : null;
}

function inMyArea(c) {
  const area = api.session && api.session.area;
  return Boolean(area) && Object.values(c.areas || {}).some((a) => a && a.code === area);
}

/** What this user's unit has to do with a case being worked (dispatched, accepted, return requested):
 *  "mine"   — my unit leads it: 我的待办, the badge and the counts;
 *  "assist" — my unit assists (协办): the other tab, comments only;
 *  "watch"  — it is in my area but another unit leads it: the other tab, comments only;
 *  null     — none of these, or not being worked. */
export function relationOf(c) {
  if (!WORKING.has(c.state)) return null;
  const lead = (c.units || {}).lead;
  const unit = myUnit();
  if (!lead) return null;
  if (unit && lead.code === unit) return "mine";
  if (unit && ((c.units || {}).assist || []).some((u) => u && u.code === unit)) return "assist";
  return inMyArea(c) ? "watch" : null;
}

/** My work: a case in a working state led by my unit. */
export function isMine(c) { return relationOf(c) === "mine"; }

/** A case my unit assists or my area watches: listed apart, with the lead unit named. */
export function isOthers(c) { const r = relationOf(c); return r === "assist" || r === "watch"; }

/** The feed's snapshot replaces every case. */
export function applySnapshot(cases) {
  S.cases.clear();
  for (const c of cases) S.cases.set(c.case_id, c);
  S.snapshot = true;
}

/** Feed events, in order: whole cases and patches onto the newest version of each case (applyCase); a finished
 * one goes unless it is open. Returns whether the open case changed under the user. */
export function applyEvents(events) {
  let openChanged = false;
  for (const e of events) {
    if (!e.case) continue;
    const old = S.cases.get(e.case_id);
    const c = applyCase(old, e.case);
    if (c && c !== old) {
      if (finished.has(c.state) && !isOpen(e.case_id)) S.cases.delete(e.case_id);
      else S.cases.set(e.case_id, c);
    }
    if (c && !old && S.snapshot && (isMine(c) || isOthers(c))) S.fresh.add(e.case_id);
    // The open case screen holds its own copy (with the timeline), also of a case the queue does not keep.
    if (S.open && S.open.id === e.case_id && S.open.doc && (e.case.version ?? 0) > S.open.doc.version) {
      S.open.changed = true;
      openChanged = true;
    }
  }
  return openChanged;
}

/** A case from the REST API, unless the feed already brought a newer version. The feed's cases carry
 * neither a timeline nor actions; `onlyMine`: a case the feed did not bring is kept only if it is listed. */
export function putCase(c, { onlyMine = false } = {}) {
  const known = S.cases.get(c.case_id);
  if (!known || c.version >= (known.version ?? 0)) {
    const { timeline: _t, allowed_actions: _a, ...summary } = c;
    if (!onlyMine || known || isMine(summary) || isOthers(summary)) S.cases.set(c.case_id, summary);
  }
}

// --- drafts -------------------------------------------------------------------------------------------

export function draftFor(caseId, action) {
  const key = `${caseId}:${action}`;
  if (!S.drafts.has(key)) S.drafts.set(key, { note: "", reason: "", until: "", files: [], uploaded: new Map() });
  return S.drafts.get(key);
}

export function newReportDraft() {
  const random = (globalThis.crypto && crypto.randomUUID) ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
  return { id: `m-${random}`, files: [], sending: false, result: null };
}
