// The action forms of the case screen — 进展 (a note and camera photos, uploaded first), 退回 (a reason),
// 申请延期 (until when, why), 办结, 备注 — and sending an action. What was typed is kept per case and
// action until the hub has taken it: a timeout, a lost network or a 409 never loses it.

import { ApiError } from "/static/shared/api.js";
import { esc, formatTime, t } from "/static/shared/i18n.js";
import { shrink, thumbUrl } from "./photos.js";
import { api, draftFor, putCase, S, sessionEnded } from "./store.js";
import { $, failureText, fieldsByName, toast } from "./ui.js";
import { w } from "./words.js";

export const FORM_ACTIONS = new Set(["progress", "resolve", "request_extension", "return", "comment"]);
const RETURN_REASONS = ["not_our_remit", "wrong_area", "unclear_ownership"];

function errorFor(name) {
  const message = S.open && S.open.fieldErrors[name];
  return `<small class="err" data-err="${name}">${message ? esc(message) : ""}</small>`;
}

function chinaLocalInput(iso) {
  // "YYYY-MM-DDTHH:MM" of a datetime-local input, in China time whatever the phone's zone.
  const d = new Date(Date.parse(iso) + 8 * 3600 * 1000);
  return d.toISOString().slice(0, 16);
}

export function actionForm(c) {
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

export function collectDraft(form) {
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

/** Send `action` on the open case; `screen` re-renders the case screen and reloads the case. */
export async function runAction(action, screen) {
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
      screen.render();
      return;
    }
  }
  o.fieldErrors = {};
  o.notice = null;
  S.busy = { action, text: w("act.sending") };
  screen.render();
  try {
    const fields = {};
    if (action === "progress") {
      const ids = [];
      for (const [i, file] of d.files.entries()) {
        if (!d.uploaded.has(file)) {
          S.busy.text = w("act.uploading", { i: i + 1, n: d.files.length });
          screen.render();
          const form = new FormData();
          form.append("photo", await shrink(file), file.name || "photo.jpg");
          const stored = await api.upload("/api/v1/photos", form);
          d.uploaded.set(file, stored.photo_id);
        }
        ids.push(d.uploaded.get(file));
      }
      S.busy.text = w("act.sending");
      screen.render();
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
    if (updated && updated.case_id) putCase(updated);
    toast(action === "accept" ? w("act.accepted") : `${w(`act.${action}`)} · ${t("action.done")}`);
    await screen.reload(o.id);
  } catch (err) {
    S.busy = null;
    if (S.open !== o) return;
    if (err instanceof ApiError && err.status === 401) { sessionEnded(t("login.failed")); return; }
    if (err instanceof ApiError && err.status === 409) {
      o.notice = { kind: "warn", text: t("action.conflict") };
      S.retry = null;
      await screen.reload(o.id); // the draft is kept: the form reopens with it if the action is still offered
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
    screen.render();
  }
}
