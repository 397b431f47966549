// 上报: a patrol worker reports a new problem with the phone's GPS (or a typed address when there is no
// fix) and camera photos, as a grid report. One `report_id` per report, reused on every retry, so that a
// report sent twice over a bad link is still one case.

import { ApiError } from "/static/shared/api.js";
import { esc, lang, stateName, t } from "/static/shared/i18n.js";
import { shrink, thumbUrl } from "./photos.js";
import { api, newReportDraft, S, sessionEnded } from "./store.js";
import { $, $$, categoryName, failureText, fieldsByName, placeOf } from "./ui.js";
import { w } from "./words.js";

const FIX_MAX_AGE_MS = 120000; // an older GPS fix is taken again when the screen opens

export function fillCategories() {
  const select = $("#report-category");
  const chosen = select.value;
  const groups = new Map();
  const en = lang() === "en"; // the config names each category in both languages
  for (const c of (S.config && S.config.categories) || []) {
    const group = en ? (c.group_en || c.group) : c.group;
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(c);
  }
  select.innerHTML = `<option value="">${esc(w("report.category.pick"))}</option>` + [...groups].map(([group, items]) =>
    `<optgroup label="${esc(group)}">${items.map((c) => `<option value="${esc(c.category)}">${esc(en ? (c.name_en || c.name) : c.name)}</option>`).join("")}</optgroup>`).join("");
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

export function renderGps() {
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

export function renderReportThumbs() {
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
    if (err instanceof ApiError && err.status === 401) { sessionEnded(t("login.failed")); return; }
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

export function renderReportResult() {
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

/** The report screen opens: the last result (if any), and a fresh GPS fix unless a recent one is there. */
export function showReport() {
  renderReportResult();
  if (S.gps.state === "idle" || (S.gps.state === "ok" && Date.now() - S.gps.at > FIX_MAX_AGE_MS)) locate();
  else renderGps();
}

/** 继续上报: a new, empty report. */
export function reportAnother() {
  S.report = newReportDraft();
  renderReportResult();
  renderReportThumbs();
  locate();
}

export function wireReport() {
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
}
