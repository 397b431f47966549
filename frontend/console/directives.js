// 指令 (政令一键智达) on the command centre: compose a directive to many units (every unit of a level under an
// area, or named units), and each directive's progress live — N of M received, a progress bar, who is missing,
// one click to remind them (POST /api/v1/directives, …/remind; live through the console feed's directive frames).

import { DirectiveBook, missing, progress } from "/static/shared/directives.js";
import { countdown, esc, formatTime, t } from "/static/shared/i18n.js";
import { w } from "./words.js";

const CITY = "450100";
const pad = (n) => String(n).padStart(2, "0");

/** A datetime-local value (China time) `hours` from now. */
function localIn(hours) {
  const d = new Date(Date.now() + hours * 3600 * 1000 + 8 * 3600 * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

export class DirectivePanel {
  constructor({ el, api, user, toast, canIssue }) {
    this.el = el;
    this.api = api;
    this.user = user;
    this.toast = toast;
    this.canIssue = canIssue;
    this.book = new DirectiveBook(() => this.renderList());
    this.composing = false;
    this.errors = {};
    this.areas = []; // the parents a directive may name: the city's counties, or the dispatcher's own county
    this.open = new Set(); // directives whose recipient table is unfolded
    // Today's duty officers (值班, GET /api/v1/duty of the duty roster) by unit code, to call a missing unit;
    // a hub without the roster answers 404 and the list simply shows no officers.
    this.duty = new Map();
    this.dutyLoaded = 0;
    el.innerHTML = `<div class="dir-head"><h3>${esc(w("dir.list"))}</h3>
      ${canIssue ? `<button type="button" class="ghost" data-do="compose">${esc(w("dir.compose"))}</button>` : ""}</div>
      <form class="dir-form" hidden novalidate></form><ol class="dir-list"></ol>`;
    this.form = el.querySelector(".dir-form");
    this.listEl = el.querySelector(".dir-list");
    el.addEventListener("click", (ev) => this.onClick(ev));
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
    this.form.addEventListener("change", (ev) => { if (ev.target.name === "mode") this.syncMode(); });
  }

  async loadDuty() {
    if (this.dutyLoaded === -1 || Date.now() - this.dutyLoaded < 300000) return;
    this.dutyLoaded = Date.now();
    try {
      const body = await this.api.get("/api/v1/duty");
      this.duty = new Map((body.units || []).map((u) => [u.code, u.officers || []]));
      this.renderList();
    } catch (err) {
      if (err.status === 404 || err.status === 405) this.dutyLoaded = -1; // no roster on this hub
    }
  }

  /** A missing unit's duty officer(s): name and a number to call (a tel: link unless the hub masked it). */
  dutyHtml(code) {
    const officers = this.duty.get(code) || [];
    return officers.map((o) => {
      const phone = o.phone || "";
      const call = phone && !phone.includes("*")
        ? `<a href="tel:${esc(phone.replace(/[ -]/g, ""))}">${esc(phone)}</a>` : esc(phone);
      return ` <span class="dir-duty">${esc(w("dir.duty", { name: o.name }))} ${call}</span>`;
    }).join("");
  }

  async load() {
    this.loadDuty();
    try {
      const body = await this.api.get("/api/v1/directives", { limit: 100 });
      this.book.put(body.directives);
    } catch { /* the live feed's snapshot carries the current ones anyway */ }
    this.renderList();
  }

  onClick(ev) {
    const btn = ev.target.closest("[data-do]");
    if (!btn) return;
    const id = btn.closest("[data-directive]") && btn.closest("[data-directive]").dataset.directive;
    if (btn.dataset.do === "compose") this.toggleForm();
    if (btn.dataset.do === "cancel") this.toggleForm(false);
    if (btn.dataset.do === "remind") this.remind(id, btn);
    if (btn.dataset.do === "unfold") {
      if (this.open.has(id)) this.open.delete(id); else this.open.add(id);
      this.renderList();
    }
  }

  async toggleForm(show = !this.composing) {
    this.composing = show;
    this.form.hidden = !show;
    if (show) {
      if (!this.areas.length) await this.loadAreas();
      this.renderForm();
    }
  }

  async loadAreas() {
    const home = this.user.area || CITY;
    if (home === CITY) {
      const body = await this.api.get("/api/v1/areas", { level: "county" }).catch(() => ({ areas: [] }));
      this.areas = [{ code: CITY, name: t("drill.city") }, ...(body.areas || []).map((a) => ({ code: a.code, name: a.name }))];
    } else {
      const body = await this.api.get("/api/v1/areas").catch(() => ({ areas: [] }));
      const mine = (body.areas || []).find((a) => a.code === home);
      this.areas = [{ code: home, name: mine ? mine.name : home }];
    }
  }

  renderForm() {
    const err = (name) => this.errors[name] ? `<small class="error" data-err="${name}">${esc(this.errors[name])}</small>` : "";
    const city = (this.user.area || CITY) === CITY;
    this.form.innerHTML = `
      <label>${esc(w("dir.f.title"))}<input name="title" maxlength="120" required>${err("title")}</label>
      <label>${esc(w("dir.f.content"))}<textarea name="content" rows="3" maxlength="4000" required></textarea>${err("content")}</label>
      <fieldset><legend>${esc(w("dir.f.recipients"))}</legend>
        <label class="check"><input type="radio" name="mode" value="level" checked> ${esc(w("dir.f.by_level"))}</label>
        <label class="check"><input type="radio" name="mode" value="units"> ${esc(w("dir.f.by_units"))}</label>
        <div class="dir-level">
          <select name="level" aria-label="level">
            <option value="township">${esc(w("dir.f.level.township"))}</option>
            ${city ? `<option value="county">${esc(w("dir.f.level.county"))}</option>` : ""}
          </select>
          <select name="parent" aria-label="parent">${this.areas.map((a) =>
            `<option value="${esc(a.code)}">${esc(a.name)}</option>`).join("")}</select>
        </div>
        <label class="dir-units" hidden>${esc(w("dir.f.units"))}<textarea name="units" rows="2" placeholder="450103001-gov, 450103-cgj"></textarea></label>
        ${err("recipients")}
      </fieldset>
      <label>${esc(t("dir.due"))}<input name="due" type="datetime-local" value="${localIn(2)}" required>${err("due")}</label>
      <label>${esc(w("dir.f.reply"))}<select name="reply">
        <option value="ack">${esc(t("dir.reply.ack"))}</option><option value="report">${esc(t("dir.reply.report"))}</option>
      </select></label>
      <label>${esc(t("dir.attachments"))}<input name="files" type="file" accept="image/*" multiple>${err("attachments")}</label>
      <p class="error" data-err="form">${esc(this.errors.form || "")}</p>
      <div class="dir-buttons"><button type="submit" class="primary">${esc(w("dir.f.send"))}</button>
        <button type="button" class="ghost" data-do="cancel">${esc(w("dir.f.cancel"))}</button></div>`;
    this.syncMode();
  }

  syncMode() {
    const units = this.form.querySelector("input[name=mode]:checked").value === "units";
    this.form.querySelector(".dir-level").hidden = units;
    this.form.querySelector(".dir-units").hidden = !units;
  }

  async submit() {
    const f = this.form;
    const button = f.querySelector("button[type=submit]");
    const body = { title: f.title.value.trim(), content: f.content.value.trim(), reply: f.reply.value,
                   due: f.due.value ? `${f.due.value}:00+08:00` : "" };
    body.recipients = f.querySelector("input[name=mode]:checked").value === "units"
      ? { units: f.units.value.split(/[\s,，、]+/).filter(Boolean) }
      : { level: f.level.value, parent: f.parent.value };
    button.disabled = true;
    const keep = { title: f.title.value, content: f.content.value, due: f.due.value };
    try {
      const attachments = [];
      for (const file of f.files.files) {
        const form = new FormData();
        form.append("photo", file, file.name || "photo.jpg");
        attachments.push((await this.api.upload("/api/v1/photos", form)).photo_id);
      }
      if (attachments.length) body.attachments = attachments;
      const created = await this.api.post("/api/v1/directives", body);
      this.toast(w("dir.sent", { n: created.recipients }));
      this.errors = {};
      this.toggleForm(false);
      const doc = await this.api.get(`/api/v1/directives/${created.directive_id}`).catch(() => null);
      if (doc) this.book.put([doc]);
    } catch (err) {
      this.errors = { form: err.describe ? err.describe() : String(err) };
      for (const field of err.fields || []) this.errors[String(field.field).split(/[.[]/)[0]] = field.message;
      this.renderForm();
      Object.assign(this.form.title, { value: keep.title });
      Object.assign(this.form.content, { value: keep.content });
      if (keep.due) this.form.due.value = keep.due;
    } finally {
      button.disabled = false;
    }
  }

  async remind(id, btn) {
    btn.disabled = true;
    try {
      const doc = await this.api.post(`/api/v1/directives/${id}/remind`, {});
      this.book.put([doc]);
      this.toast(w("dir.reminded_now", { n: doc.reminders[doc.reminders.length - 1].units.length }));
    } catch (err) {
      this.toast(`${t("action.failed")}: ${err.describe ? err.describe() : String(err)}`, "error");
    } finally {
      btn.disabled = false;
    }
  }

  /** Directives from the live feed (frames, or a snapshot's current ones). */
  put(docs) { this.book.put(docs); }

  renderList() {
    this.loadDuty();
    const items = this.book.list();
    if (!items.length) { this.listEl.innerHTML = `<li class="empty">${esc(t("dir.none"))}</li>`; return; }
    this.listEl.innerHTML = items.map((d) => this.itemHtml(d)).join("");
  }

  itemHtml(d) {
    const p = progress(d);
    const absent = missing(d);
    const mayRemind = this.canIssue && absent.length && d.state !== "completed";
    const late = d.state === "overdue" ? "overdue" : "";
    const rows = this.open.has(d.directive_id) ? `<table class="dir-recipients"><tbody>${d.recipients.map((r) => `
      <tr data-unit="${esc(r.unit.code)}" data-state="${esc(r.state)}"><td>${esc(r.unit.name)}</td>
        <td class="st-${esc(r.state)}">${esc(t(`dir.r.${r.state}`))}${r.late ? ` · ${esc(t("dir.late"))}` : ""}</td>
        <td class="muted">${r.at ? esc(formatTime(r.at)) : ""}${r.by ? ` · ${esc(r.by.name)}` : ""}</td></tr>
      ${r.reply ? `<tr class="reply"><td colspan="3">${esc(r.reply.text)}${r.reply.photos.length ? ` · 📷×${r.reply.photos.length}` : ""}</td></tr>` : ""}
      ${r.escalated_to ? `<tr class="reply"><td colspan="3">${esc(t("dir.escalated", { unit: r.escalated_to.name }))}</td></tr>` : ""}`).join("")}
      </tbody></table>` : "";
    return `<li class="dir-item ${late}" data-directive="${esc(d.directive_id)}" data-state="${esc(d.state)}">
      <div class="dir-title"><b>${esc(d.title)}</b> <span class="badge dir-${esc(d.state)}">${esc(t(`dir.state.${d.state}`))}</span></div>
      <div class="muted small">${esc(t(`dir.reply.${d.reply}`))} · ${esc(t("dir.due"))} ${esc(formatTime(d.due))}
        · ${esc(countdown(d.due))}</div>
      <div class="dir-progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${p.pct}">
        <i style="width:${p.pct}%"></i><span class="dir-count">${esc(w("dir.count", { n: p.done, m: p.total, pct: p.pct }))}</span></div>
      ${absent.length ? `<div class="small dir-missing">${esc(w("dir.missing", { n: absent.length }))}
        ${absent.slice(0, 12).map((r) => `<span class="chip" data-missing="${esc(r.unit.code)}">${esc(r.unit.name)}${this.dutyHtml(r.unit.code)}</span>`).join("")}
        ${absent.length > 12 ? "…" : ""}</div>` : ""}
      <div class="dir-buttons">${mayRemind ? `<button type="button" class="ghost" data-do="remind">${esc(w("dir.remind", { n: absent.length }))}</button>` : ""}
        <button type="button" class="ghost" data-do="unfold">${esc(w(this.open.has(d.directive_id) ? "dir.fold" : "dir.unfold"))}</button></div>
      ${rows}</li>`;
  }

  relabel() { if (this.composing) this.renderForm(); this.renderList(); }
}
