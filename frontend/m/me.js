// 我的: who is signed in, where, and how the live connection is doing (events received, reconnects), with
// reconnect, language and sign-out buttons.

import { esc, t } from "/static/shared/i18n.js";
import { api, S } from "./store.js";
import { $ } from "./ui.js";
import { w } from "./words.js";

export function renderMe() {
  const s = api.session || {};
  const user = (S.config && S.config.user) || {};
  const stats = S.feed ? S.feed.stats : { events: 0, reconnects: 0 };
  const status = $("#conn").dataset.status;
  $("#view-me").innerHTML = `<div class="card-block">
    <h2>${esc(w("me.title"))}</h2>
    <dl class="facts wide">
      <div><dt>${esc(w("me.user"))}</dt><dd>${esc([user.display_name, s.username].filter(Boolean).join(" · "))}</dd></div>
      ${user.unit_name ? `<div><dt>${esc(w("me.unit"))}</dt><dd>${esc(user.unit_name)}</dd></div>` : ""}
      <div><dt>${esc(w("me.role"))}</dt><dd>${esc(w(`role.${s.role}`))}</dd></div>
      <div><dt>${esc(w("me.area"))}</dt><dd>${esc([S.areaName, s.area].filter(Boolean).join(" · "))}</dd></div>
      <div><dt>${esc(w("me.conn"))}</dt><dd><span class="conn-inline" data-status="${esc(status)}">${esc(t(`conn.${status}`))}</span></dd></div>
      <div><dt>${esc(w("me.events"))}</dt><dd>${stats.events}</dd></div>
      <div><dt>${esc(w("me.reconnects"))}</dt><dd>${stats.reconnects}</dd></div>
    </dl>
    <button type="button" class="btn ghost block" data-act="reconnect">${esc(w("me.reconnect"))}</button>
    <button type="button" class="btn ghost block" data-act="lang">${esc(w("me.lang"))}: ${esc(t("lang.switch"))}</button>
    <button type="button" class="btn danger block" data-act="logout">${esc(t("logout"))}</button>
  </div>`;
}

/** The name of my area (the session has only its code), from its parent's list of areas. */
export async function loadAreaName() {
  const area = api.session && api.session.area;
  if (!area || area.length <= 6) return;
  const parent = area.length === 9 ? area.slice(0, 6) : area.slice(0, area.length - 3);
  try {
    const body = await api.get("/api/v1/areas", { parent });
    const mine = (body.areas || []).find((a) => a.code === area);
    if (mine) { S.areaName = mine.name; if (S.view === "me") renderMe(); }
  } catch { /* the code alone is shown */ }
}
