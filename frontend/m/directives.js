// 通知/指令 on the phone: each directive addressed to the user's unit with its deadline, a big 签收 button, and
// where the directive asks for a report, a reply form (text and camera photos, uploaded first). Kept live by the
// console feed's directive frames; answered with POST /api/v1/directives/{id}/ack and …/reply.

import { DirectiveBook } from "/static/shared/directives.js";
import { countdown, esc, formatTime, t } from "/static/shared/i18n.js";
import { openViewer, shrink, thumbUrl } from "./photos.js";
import { api, S } from "./store.js";
import { $, failureText, fieldsByName, toast } from "./ui.js";
import { w } from "./words.js";

const drafts = new Map(); // directive id → {text, files: File[], uploaded: Map<File, id>, errors}
let busy = null; // the directive id being answered
export const book = new DirectiveBook(() => { renderBadge(); if (S.view === "directives") renderDirectives(); });

/** Directives from the feed (frames and a snapshot's current ones) or the REST list. */
export function putDirectives(docs) { book.put(docs); }

export async function loadDirectives() {
  try {
    book.put((await api.get("/api/v1/directives", { limit: 100 })).directives);
  } catch { /* the live feed's snapshot has the current ones */ }
  if (S.view === "directives") renderDirectives();
}

export function forgetDirectives() {
  book.byId.clear();
  drafts.clear();
  for (const url of photoUrls.values()) URL.revokeObjectURL(url);
  photoUrls.clear();
  renderBadge();
}

function mine(d) {
  const unit = S.config && S.config.user && S.config.user.unit;
  return (d.recipients || []).find((r) => r.unit.code === unit) || null;
}

/** Still to do for my unit: not yet signed for, or (report) not yet replied. */
function todo(d) {
  const r = mine(d);
  return Boolean(r && (d.reply === "report" ? !r.reply : !r.acknowledged_at));
}

function renderBadge() {
  const badge = $("#nav-dir-badge");
  if (!badge) return;
  const n = book.list().filter(todo).length;
  badge.hidden = !n;
  badge.textContent = String(n);
}

export function renderDirectives() {
  const root = $("#view-directives");
  const items = book.list().filter((d) => mine(d));
  items.sort((a, b) => (todo(b) - todo(a)) || (Date.parse(a.due) - Date.parse(b.due)));
  root.innerHTML = `<h2 class="view-title">${esc(w("dir.title"))}</h2>${items.length
    ? `<ol class="cards">${items.map(cardHtml).join("")}</ol>`
    : `<p class="notice info">${esc(t("dir.none"))}</p>`}`;
  renderBadge();
}

function cardHtml(d) {
  const r = mine(d);
  const over = Date.now() > Date.parse(d.due);
  const signed = Boolean(r.acknowledged_at);
  const draft = drafts.get(d.directive_id) || { text: "", files: [], errors: {} };
  const sending = busy === d.directive_id;
  const replyForm = d.reply === "report" && !r.reply ? `
    <label class="field"><span>${esc(t("dir.reply_text"))}</span>
      <textarea data-reply-text="${esc(d.directive_id)}" rows="3" maxlength="2000">${esc(draft.text)}</textarea>
      ${draft.errors.text ? `<small class="err">${esc(draft.errors.text)}</small>` : ""}</label>
    <div class="thumbs">${draft.files.map((f) => `<img src="${esc(thumbUrl(f))}" alt="">`).join("")}</div>
    <label class="btn ghost photo-btn"><input class="sr-only" type="file" accept="image/*" capture="environment"
      data-reply-photo="${esc(d.directive_id)}"><span>${esc(w("form.photo.take"))}</span></label>
    ${draft.errors.photos ? `<small class="err">${esc(draft.errors.photos)}</small>` : ""}
    <button type="button" class="btn primary block" data-dir="reply" ${sending ? "disabled aria-busy=\"true\"" : ""}>
      ${esc(w("dir.send_reply"))}</button>` : "";
  const answer = r.reply ? `<p class="notice ok">${esc(t("dir.r.replied"))} · ${esc(formatTime(r.reply.at))}<br>${esc(r.reply.text)}</p>`
    : signed ? `<p class="notice ok">${esc(t("dir.r.acknowledged"))} · ${esc(formatTime(r.acknowledged_at))}${r.acknowledged_by ? ` · ${esc(r.acknowledged_by.name)}` : ""}</p>`
      : `<button type="button" class="btn primary block" data-dir="ack" ${sending ? "disabled aria-busy=\"true\"" : ""}>${esc(t("dir.reply.ack"))}</button>`;
  return `<li class="card dir-card" data-directive="${esc(d.directive_id)}" data-state="${esc(r.state)}">
    <div class="row"><b>${esc(d.title)}</b><span class="pill st-${esc(r.state)}">${esc(t(`dir.r.${r.state}`))}</span></div>
    <p class="sub">${esc(d.content)}</p>
    <p class="sub">${esc(t("dir.issued_by"))}: ${esc((d.issued_by && ((d.issued_by.unit && d.issued_by.unit.name) || d.issued_by.name)) || "")}
      · ${esc(formatTime(d.issued_at))}</p>
    <p class="due ${over ? "over" : ""}">${esc(t("dir.due"))} ${esc(formatTime(d.due))} · <span data-countdown="${esc(d.due)}">${esc(countdown(d.due))}</span></p>
    ${d.attachments.length ? `<div class="photo-grid">${d.attachments.map((p) => photoButton(p)).join("")}</div>` : ""}
    ${r.reminded ? `<p class="sub">${esc(t("dir.reminded", { n: r.reminded }))}</p>` : ""}
    ${answer}${signed || d.reply === "report" ? replyForm : ""}</li>`;
}

const photoUrls = new Map(); // photo id → object URL (kept while signed in: a directive's photos are few)

function photoButton(id) {
  const url = photoUrls.get(id);
  return url ? `<button type="button" class="photo loaded" data-dir-photo="${esc(id)}"><img src="${esc(url)}" alt=""></button>`
    : `<button type="button" class="photo" data-dir-photo="${esc(id)}"><span>${esc(w("case.photo_tap"))}</span></button>`;
}

/** A directive's attachment: fetched with the bearer token on a tap (phones on slow links), then shown full screen. */
async function showPhoto(button) {
  const id = button.dataset.dirPhoto;
  if (photoUrls.has(id)) { openViewer(photoUrls.get(id)); return; }
  const directive = button.closest("[data-directive]").dataset.directive;
  try {
    photoUrls.set(id, await api.fileUrl(`/api/v1/directives/${encodeURIComponent(directive)}/photos/${encodeURIComponent(id)}`));
    renderDirectives();
  } catch {
    button.innerHTML = `<span>${esc(w("case.photo_failed"))}</span>`;
  }
}

/** Countdowns move between events. */
export function tickDirectives() {
  if (S.view !== "directives") return;
  for (const el of document.querySelectorAll("#view-directives [data-countdown]")) el.textContent = countdown(el.dataset.countdown);
}

async function acknowledge(id) {
  busy = id;
  renderDirectives();
  try {
    book.put([await api.post(`/api/v1/directives/${id}/ack`, {})]);
    toast(t("dir.r.acknowledged"));
  } catch (err) {
    toast(failureText(err), "error");
  } finally {
    busy = null;
    renderDirectives();
  }
}

async function sendReply(id) {
  const d = drafts.get(id) || { text: "", files: [], uploaded: new Map(), errors: {} };
  drafts.set(id, d);
  if (!d.text.trim()) { d.errors = { text: w("form.required") }; renderDirectives(); return; }
  busy = id;
  d.errors = {};
  renderDirectives();
  try {
    const photos = [];
    for (const file of d.files) {
      if (!d.uploaded.has(file)) {
        const form = new FormData();
        form.append("photo", await shrink(file), file.name || "photo.jpg");
        d.uploaded.set(file, (await api.upload("/api/v1/photos", form)).photo_id);
      }
      photos.push(d.uploaded.get(file));
    }
    book.put([await api.post(`/api/v1/directives/${id}/reply`, { text: d.text.trim(), photos })]);
    drafts.delete(id);
    toast(t("dir.r.replied"));
  } catch (err) {
    d.errors = fieldsByName(err);
    toast(failureText(err), "error");
  } finally {
    busy = null;
    renderDirectives();
  }
}

export function wireDirectives() {
  const root = $("#view-directives");
  root.addEventListener("click", (ev) => {
    const photo = ev.target.closest("[data-dir-photo]");
    if (photo) { showPhoto(photo); return; }
    const btn = ev.target.closest("[data-dir]");
    if (!btn || busy) return;
    const id = btn.closest("[data-directive]").dataset.directive;
    if (btn.dataset.dir === "ack") acknowledge(id);
    if (btn.dataset.dir === "reply") sendReply(id);
  });
  root.addEventListener("input", (ev) => {
    const id = ev.target.dataset.replyText;
    if (!id) return;
    const d = drafts.get(id) || { text: "", files: [], uploaded: new Map(), errors: {} };
    d.text = ev.target.value;
    drafts.set(id, d);
  });
  root.addEventListener("change", (ev) => {
    const id = ev.target.dataset.replyPhoto;
    if (!id || !ev.target.files.length) return;
    const d = drafts.get(id) || { text: "", files: [], uploaded: new Map(), errors: {} };
    d.files.push(...ev.target.files);
    drafts.set(id, d);
    renderDirectives();
  });
}
