// Small things every screen of the phone uses: DOM look-ups, the toast, how a failure and a case read.

import { ApiError } from "/static/shared/api.js";
import { categoryPath, formatTime, t } from "/static/shared/i18n.js";
import { w } from "./words.js";

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function toast(text, kind = "ok") {
  const el = $("#toast");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 3500);
}

/** The fields a 422 named, by the form field they belong to ("photos.0" → "photos"). */
export function fieldsByName(err) {
  const out = {};
  for (const f of (err && err.fields) || []) {
    const name = String(f.field || "body").split(".")[0];
    out[name] = out[name] ? `${out[name]}; ${f.message}` : f.message;
  }
  return out;
}

/** What went wrong, for a person: a timeout or a lost network says the input is kept. */
export function failureText(err) {
  if (!(err instanceof ApiError)) return `${t("action.failed")}: ${String(err && err.message || err)}`;
  if (err.status === 0) return /abort/i.test(err.message) ? w("act.timeout") : w("act.network");
  return `${t("action.failed")}: ${err.describe()}`;
}

/** formatTime without this year's year: 11月23日 10:00 / 11-23 10:00. */
export function shortTime(iso) {
  const text = formatTime(iso);
  const year = String(new Date(Date.now() + 8 * 3600 * 1000).getUTCFullYear());
  return text.startsWith(`${year}年`) ? text.slice(5) : text.startsWith(`${year}-`) ? text.slice(5) : text;
}

// --- how a case reads ----------------------------------------------------------------------------------

/** The case's category in the phone's language (its last level). */
export function categoryName(c) {
  const path = categoryPath(c);
  return path.length ? path[path.length - 1] : "—";
}

export function placeOf(c) {
  const a = c.areas || {};
  return [a.township, a.community, a.grid].filter(Boolean).map((x) => x.name).join(" · ");
}

export function isConfidential(c) { return Boolean((c.report || {}).confidential); }

/** The hub hid a confidential ticket's content from this user (hub.identity.access.sees_confidential_content):
 * its answer says so; the phone never decides it from the role. */
export function isHidden(c) { return Boolean((c.report || {}).content_hidden); }

export function contentOf(c) {
  if (isHidden(c)) return t("case.confidential");
  return (c.report || {}).content || "";
}
