// The township mobile console (/m/): a handler's queue sorted by deadline with live countdowns, the case
// screen with exactly the actions the hub offers, and patrol reports with GPS and photos. Phone first:
// big touch targets, small payloads, every request can time out and be retried without losing input.
//
// This module wires the screens together: sign-in, the live feed, the language, and routing between the
// screens by the URL's hash (#/queue, #/case/<id>, #/report, #/me).

import { LiveFeed } from "/static/shared/feed.js";
import { lang, onLangChange, setCategoryNames, setLang, t, translate } from "/static/shared/i18n.js";
import { WorkingTime } from "/static/shared/worktime.js";
import { openAlert, renderAlert, renderAlertCards, wireAlerts } from "./alerts.js";
import { closeCase, openCase, renderCase, showCaseChanged, wireCase } from "./case.js";
import {
  forgetDirectives, loadDirectives, putDirectives, renderDirectives, tickDirectives, wireDirectives,
} from "./directives.js";
import { loadAreaName, renderMe } from "./me.js";
import {
  clearQueue, renderQueue, renderQueueStatus, scheduleRender, tabIds, visibleQueue, wireQueue,
} from "./queue.js";
import {
  fillCategories, renderGps, renderReportResult, renderReportThumbs, reportAnother, showReport, wireReport,
} from "./report.js";
import { api, applyEvents, applySnapshot, forgetSession, onSessionEnd, S, setConfig } from "./store.js";
import { $, $$, failureText } from "./ui.js";
import { translateWords, w } from "./words.js";

const SCREENS = ["queue", "case", "directives", "report", "me", "alert"];

// Diagnostics for support staff and tests.
window.cityloop = {
  get feed() { return S.feed; },
  queueIds: () => visibleQueue().map((c) => c.case_id),
  tabIds, // ("mine" | "others") → the case ids that tab lists
  alertIds: () => S.alerts.list().map((a) => a.alert_id),
};

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
  if (S.feed) S.feed.stop();
  api.logout();
  forgetSession();
  clearQueue();
  forgetDirectives();
  if (location.hash) history.replaceState(null, "", location.pathname);
  showLogin(message);
}

function enterApp() {
  $("#login-view").hidden = true;
  $("#app").hidden = false;
  $("#nav").hidden = false;
  loadConfig();
  S.feed = new LiveFeed({
    token: () => api.token,
    areas: [],
    onSnapshot: (cases, _position, alerts) => { applySnapshot(cases); S.alerts.replace(alerts); scheduleRender(); },
    onEvents: (events) => { if (applyEvents(events)) showCaseChanged(); scheduleRender(); },
    onDirectives: (docs) => putDirectives(docs),
    onAlerts: (list) => S.alerts.put(list),
    onStatus: setConn,
    checkAuth: () => api.stillSignedIn(),
    onUnauthorized: () => signOut(t("login.failed")),
  });
  S.feed.start();
  loadDirectives();
  route();
}

// 非工作时间，计时暂停: at the top of the queue, where the handler watches the countdowns.
let workingTime = null;
function showWorkingTime(state) {
  if (!workingTime) {
    const el = document.createElement("p");
    el.id = "worktime";
    $("#view-queue").prepend(el);
    workingTime = new WorkingTime({ el, api });
  }
  workingTime.show(state);
}

async function loadConfig() {
  try {
    setConfig(await api.get("/api/v1/console/config"));
    setCategoryNames(S.config.category_names);
    scheduleRender(); // my unit is known now: 我的待办 and the other tab follow it
    showWorkingTime(S.config.working_time);
    fillCategories();
    if (S.view === "me") renderMe();
    if (S.view === "directives") renderDirectives(); // my unit is known now
    loadAreaName();
  } catch (err) {
    if (err.status === 401) signOut();
    else setTimeout(() => { if (api.signedIn && !S.config) loadConfig(); }, 5000);
  }
}

function setConn(status) {
  const el = $("#conn");
  el.dataset.status = status;
  $(".conn-text", el).textContent = t(`conn.${status}`);
  if (S.view === "queue") renderQueueStatus();
  if (S.view === "me") renderMe();
}

// --- navigation ---------------------------------------------------------------------------------------

function route() {
  if (!api.signedIn) { showLogin(); return; }
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, id] = hash.split("/");
  const view = SCREENS.includes(name) && ((name !== "case" && name !== "alert") || id) ? name : "queue";
  if (view !== "case" && S.open) closeCase();
  S.view = view;
  for (const v of SCREENS) $(`#view-${v}`).hidden = v !== view;
  for (const b of $$("#nav [data-nav]")) {
    const current = b.dataset.nav === view || ((view === "case" || view === "alert") && b.dataset.nav === "queue");
    if (current) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  if (view === "queue") { renderQueue(); renderQueueStatus(); }
  if (view === "case") openCase(decodeURIComponent(id));
  if (view === "directives") renderDirectives();
  if (view === "alert") openAlert(decodeURIComponent(id));
  if (view === "report") showReport();
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
  renderAlertCards();
  renderAlert();
  if (S.view === "queue") renderQueueStatus();
  if (S.view === "case") renderCase();
  if (S.view === "me") renderMe();
  if (S.view === "directives") renderDirectives();
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
  document.addEventListener("click", (ev) => {
    const open = ev.target.closest("[data-open]");
    if (open) { go(`#/case/${encodeURIComponent(open.dataset.open)}`); return; }
    const act = ev.target.closest("[data-act]");
    if (!act) return;
    if (act.dataset.act === "back") goBack();
    if (act.dataset.act === "reconnect" && S.feed) S.feed.reconnect();
    if (act.dataset.act === "logout") {
      if (S.feed) S.feed.stop();
      api.revoke().finally(() => signOut());  // end the session on the hub, not only in this browser
    }
    if (act.dataset.act === "lang") toggleLang();
    if (act.dataset.act === "close-viewer") $("#viewer").hidden = true;
    if (act.dataset.act === "report-another") reportAnother();
  });
  $("#viewer").addEventListener("click", () => { $("#viewer").hidden = true; });
  wireQueue();
  wireAlerts(go);
  wireCase();
  wireReport();
  wireDirectives();
  setInterval(tickDirectives, 1000);
  window.addEventListener("hashchange", route);
  onLangChange(applyLang);
  onSessionEnd(signOut);
}

wire();
applyLang();
if (api.signedIn) enterApp(); else showLogin();
