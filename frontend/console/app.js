// The command-centre console (指挥中心): sign-in, then the live map, feed, queues, case panel and KPIs,
// all driven by one LiveFeed (INTERFACES.md "Websocket") and the REST API.

import { Api } from "/static/shared/api.js";
import { AlertBook } from "/static/shared/alerts.js";
import { LiveFeed } from "/static/shared/feed.js";
import { lang, onLangChange, setLang, t } from "/static/shared/i18n.js";
import { WorkingTime } from "/static/shared/worktime.js";
import { AlertDesk } from "./alerts.js";
import { DutyPanel } from "./duty.js";
import { FeedList } from "./feedlist.js";
import { AnalysisPanel } from "./analysis.js";
import { IncidentBoard } from "./incidents.js";
import { Headline, headlineHtml, KpiPanel } from "./kpi.js";
import { CaseMap } from "./map.js";
import { DirectivePanel } from "./directives.js";
import { CasePanel } from "./panel.js";
import { Queues } from "./queues.js";
import { CaseStore } from "./store.js";
import { setCategories, translatePage, w } from "./words.js";

const api = new Api("cityloop.console");
const $ = (selector) => document.querySelector(selector);
const CITY = "450100";

// --- toasts ------------------------------------------------------------------------------------------

function toast(text, kind = "info") {
  const box = $("#toasts");
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.textContent = text;
  box.appendChild(el);
  setTimeout(() => el.remove(), kind === "error" ? 9000 : 6000);
  while (box.children.length > 4) box.firstElementChild.remove();
}

// --- language ----------------------------------------------------------------------------------------

function retitle() { document.title = `${w("app.title")} · ${w("app.console")} | CityLoop`; }

document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
translatePage();
retitle();
$("#lang").addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
const relabelers = [];
onLangChange(() => {
  translatePage();
  retitle();
  relabelers.forEach((fn) => fn());
});

// --- sign-in -----------------------------------------------------------------------------------------

function showLogin(message = "") {
  $("#console").hidden = true;
  $("#headline").hidden = true;
  $("#who").hidden = true;
  $("#logout").hidden = true;
  $("#login-view").hidden = false;
  $("#login-error").textContent = message;
  setConn("offline");
  $("#login input[name=username]").focus();
}

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const button = form.querySelector("button");
  button.disabled = true;
  $("#login-error").textContent = "";
  try {
    await api.login(form.username.value.trim(), form.password.value);
    form.password.value = "";
    if (started) { location.reload(); return; } // signed out under a running console: start afresh
    await start();
  } catch (err) {
    $("#login-error").textContent = `${t("login.failed")}: ${err.describe ? err.describe() : String(err)}`;
  } finally {
    button.disabled = false;
  }
});

$("#logout").addEventListener("click", async () => {
  if (window.cityloop && window.cityloop.feed) window.cityloop.feed.stop();
  await api.revoke();
  api.logout();
  location.reload();
});

const statusLog = []; // every connection state, in order (diagnostics)

function setConn(state) {
  if (statusLog[statusLog.length - 1] !== state) statusLog.push(state);
  if (statusLog.length > 200) statusLog.splice(0, 100);
  const el = $("#conn");
  el.dataset.status = state;
  el.querySelector(".conn-text").dataset.w = `conn.${state}`;
  el.querySelector(".conn-text").textContent = t(`conn.${state}`);
}

// --- the console -------------------------------------------------------------------------------------

let started = false;

async function start() {
  let config;
  try {
    config = await api.get("/api/v1/console/config");
  } catch (err) {
    showLogin(err.status === 401 ? "" : `${t("login.failed")}: ${err.describe ? err.describe() : String(err)}`);
    return;
  }
  if (started) return;
  started = true;
  $("#login-view").hidden = true;
  $("#console").hidden = false;
  $("#logout").hidden = false;
  $("#headline").hidden = false;

  setCategories(config.categories, config.category_names);
  // 非工作时间，计时暂停: a small status beside the connection's, while working-time clocks are paused.
  const worktimeEl = Object.assign(document.createElement("span"), { id: "worktime" });
  $("#conn").before(worktimeEl);
  new WorkingTime({ el: worktimeEl, api }).show(config.working_time);
  const store = new CaseStore(config.states);
  const user = config.user;
  const homePath = await homeAreas(user.area);
  const renderWho = () => {
    const who = $("#who");
    who.hidden = false;
    const area = homePath[homePath.length - 1];
    who.textContent = [user.display_name || user.name, user.unit_name || w(`role.${user.role}`),
      area.code === null ? t("drill.city") : area.name].filter(Boolean).join(" · ");
    who.title = who.textContent; // cut short on a laptop: the whole line on hover
  };
  renderWho();

  let panel;
  const openCase = (id) => {
    showTab("case");
    // Stacked (narrow) layout: the panel is below the map; bring it up rather than open it out of sight.
    const column = $(".col-right");
    if (column.getBoundingClientRect().top > window.innerHeight * 0.6) column.scrollIntoView({ block: "start" });
    return panel.open(id);
  };

  const map = new CaseMap({ el: $("#map"), api, config, store, onCase: openCase, toast,
                            onDrill: (path) => renderCrumbs(path) });
  map.onCount = (n) => { $("#map-count").textContent = w("map.cases", { n }); };
  // With no case picked the right column shows the KPI summary rather than an empty panel.
  const onSelect = (id) => { map.select(id); if (!id) showTab("kpi"); };
  panel = new CasePanel({ el: $("#case-panel"), api, store, config, toast, onSelect,
                          onLocate: (id) => map.locate(id) });
  const feedList = new FeedList({ el: $("#feed"), countEl: $("#feed-count"), onCase: openCase });
  const queues = new Queues({ api, tabsEl: $("#queue-tabs"), listEl: $("#queue-list"), onCase: openCase,
                              available: config.queues, toast,
                              canDispatch: ["admin", "city_operator", "county_dispatcher"].includes(user.role) });
  const kpi = new KpiPanel({ api, toast, area: user.area, onCase: openCase, els: { numbers: $("#kpi-numbers"),
    rates: $("#kpi-rates"), trend: $("#kpi-trend"), ranking: $("#kpi-ranking"), rankNote: $("#kpi-rank-note"),
    unranked: $("#kpi-unranked"), red: $("#board-red"), black: $("#board-black"), unitCases: $("#kpi-unit-cases"),
    heat: $("#kpi-heat"), asof: $("#kpi-asof") } });
  const duty = new DutyPanel({ el: $("#duty-panel"), api, toast });
  const analysis = new AnalysisPanel({ api, toast, area: user.area, onCase: openCase, root: $("#analysis-panel") });

  const directives = new DirectivePanel({ el: $("#directive-panel"), api, user, toast,
                                         canIssue: ["admin", "city_operator", "county_dispatcher"].includes(user.role) });
  directives.load();

  // 预警: the feed's alerts in a book; the banner, the 预警 tab and the pulsing areas follow it.
  const alertBook = new AlertBook();
  const countyName = (code) => {
    const county = ((map.shapes.get("") || {}).features || []).find((f) => f.properties.code === code);
    if (county) return county.properties.name;
    for (const c of store.values()) if (c.areas && c.areas.county && c.areas.county.code === code) return c.areas.county.name;
    return "";
  };
  const alerts = new AlertDesk({ book: alertBook, api, store, role: user.role, toast, countyName, onCase: openCase,
                                 listEl: $("#alert-panel"), bannerEl: $("#alert-banner"), countEl: $("#alert-count"),
                                 onShow: () => showTab("alerts") });
  alertBook.on(() => map.setAlerts(alertBook.list()));

  // Emergency incidents (平急转换): the board in its own tab; the tab shows how many are active.
  const incidents = new IncidentBoard({ el: $("#incident-panel"), api, config, toast, onCase: openCase,
    onCount: (n) => { const el = $("#incident-count"); el.hidden = !n; el.textContent = String(n); } });

  // Map toolbar: breadcrumb, hotspot layer and its category, closed cases.
  function renderCrumbs(path) {
    const crumbs = $("#crumbs");
    crumbs.innerHTML = "";
    path.forEach((entry, i) => {
      if (i) crumbs.append(Object.assign(document.createElement("span"), { className: "sep", textContent: "›" }));
      const last = i === path.length - 1;
      const el = document.createElement(last ? "span" : "button");
      el.textContent = entry.code === null ? t("drill.city") : entry.name;
      el.className = last ? "crumb current" : "crumb";
      if (!last) {
        el.type = "button";
        el.dataset.depth = String(i);
        el.addEventListener("click", () => map.setPath(path.slice(0, i + 1)));
      }
      crumbs.append(el);
    });
    if (path.length < 4) { // below a township the grids are the last level
      crumbs.append(Object.assign(document.createElement("span"), { className: "hint", textContent: w("map.drill_hint") }));
    }
  }
  const categorySelect = $("#heat-category");
  const renderCategories = () => {
    const chosen = categorySelect.value;
    categorySelect.innerHTML = "";
    categorySelect.append(new Option(w("map.category_all"), ""));
    const en = lang() === "en";
    for (const c of config.categories) {
      categorySelect.append(new Option(en ? `${c.group_en || c.group} · ${c.name_en || c.name}` : `${c.group} · ${c.name}`, c.code));
    }
    categorySelect.value = chosen;
  };
  renderCategories();
  $("#heat-toggle").addEventListener("change", (ev) => map.setHeat(ev.target.checked, categorySelect.value));
  categorySelect.addEventListener("change", () => {
    if (!$("#heat-toggle").checked) $("#heat-toggle").checked = true;
    map.setHeat(true, categorySelect.value);
  });
  $("#show-closed").addEventListener("change", (ev) => map.setShowClosed(ev.target.checked));

  // Right column: case panel or KPIs.
  function showTab(name) {
    document.querySelectorAll(".col-right .tab").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    // The tab row scrolls sideways when its labels are longer than the column (English): keep the chosen one shown.
    document.querySelector(`.col-right .tab[data-tab="${name}"]`)?.scrollIntoView({ block: "nearest", inline: "nearest" });
    document.querySelectorAll(".col-right .tab-body").forEach((b) => { b.hidden = b.dataset.body !== name; });
    if (name === "kpi") kpi.show(); else kpi.hide();
    if (name === "duty") duty.show(); else duty.hide();
    if (name === "analysis") analysis.show(); else analysis.hide();
  }
  document.querySelectorAll(".col-right .tab").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));

  // Header numbers (also on the KPI tab): counted by the server for the whole jurisdiction, the same on every
  // console (a snapshot holds only some cases); asked again after live events and every few seconds.
  const headline = new Headline({ api, onChange: () => renderHeadline() });
  const renderHeadline = () => {
    $("#headline").innerHTML = headlineHtml(headline.figures);
    kpi.setFigures(headline.figures);
  };

  // The live feed drives everything.
  store.on("snapshot", () => { map.refilter(); headline.soon(); queues.refresh(); });
  store.on("events", (events, changed, touched) => {
    feedList.add(events, changed);
    map.update(changed);
    panel.changed(touched);
    queues.refresh();
    headlineSoon();
  });
  const headlineSoon = () => headline.soon();
  const feed = new LiveFeed({
    token: () => api.token,
    areas: [],
    onSnapshot: (cases, position, alerts) => { store.replace(cases, position); alertBook.replace(alerts); },
    onEvents: (events) => store.apply(events),
    onDirectives: (docs) => directives.put(docs),
    onAlerts: (list) => alertBook.put(list),
    onIncidents: (docs, frames) => incidents.update(docs, frames),
    onStatus: setConn,
    checkAuth: () => api.stillSignedIn(),
    onUnauthorized: () => { toast(w("toast.signin_expired"), "error"); showLogin(w("toast.signin_expired")); },
  });

  // Diagnostics for support staff and tests: state without reading Leaflet internals.
  window.cityloop = {
    feed, store, map, panel, queues, kpi, analysis, headline, duty, directives, alertBook, alerts, incidents,
    mapCaseIds: () => map.ids(),
    openCase,
    statusLog,
    snapshotPosition: () => store.snapshotPosition,
    feedPositions: () => [...document.querySelectorAll("#feed li[data-position]")].map((li) => Number(li.dataset.position)),
  };

  relabelers.push(() => {
    renderWho();
    map.relabel();
    renderCrumbs(map.path);
    renderCategories();
    feedList.render();
    queues.render();
    alerts.relabel();
    panel.render();
    kpi.relabel();
    duty.relabel();
    analysis.relabel();
    directives.relabel();
    incidents.relabel();
    renderHeadline();
    map.onCount(map.markers.size);
    const el = $("#conn .conn-text");
    el.textContent = t(`conn.${$("#conn").dataset.status}`);
  });

  setInterval(() => { panel.tick(); queues.tick(); }, 1000);
  window.addEventListener("resize", () => { map.invalidate(); map.recolourAll(); kpi.resize(); analysis.resize(); });

  renderHeadline();
  headline.load();
  showTab("kpi");
  feed.start();
  await map.setPath(homePath);
}

/** The drill path down to the user's own area: the city, then their county (and township). */
async function homeAreas(code) {
  const path = [{ code: null, name: t("drill.city"), level: "city" }];
  if (!code || code === CITY) return path;
  let parent = null;
  for (const [len, level] of [[6, "county"], [9, "township"], [12, "community"]]) {
    if (code.length < len) break;
    const part = code.slice(0, len);
    let name = part;
    try {
      const body = await api.get("/api/v1/areas", parent ? { parent } : undefined);
      const found = (body.areas || []).find((a) => a.code === part);
      if (found) name = found.name;
    } catch { /* the name is only a label: keep the code */ }
    path.push({ code: part, name, level });
    parent = part;
  }
  return path;
}

if (api.signedIn) start(); else showLogin();
