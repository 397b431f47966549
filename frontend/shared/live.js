// Minimal live console: sign in, subscribe, keep the last position, resume after a disconnect.
// The full consoles (map, queues, actions) build on this protocol; see README "Websocket".
"use strict";
const STATE_ZH = { received: "已受理", triage: "待人工研判", dispatched: "待签收", accepted: "办理中",
  return_requested: "退单审核", resolved: "已办结待回访", closed: "已结案", merged: "已合并", parked: "挂账", rejected: "不予受理" };
const cases = new Map();
let position = null, token = sessionStorage.getItem("token"), retry = 500;

function render() {
  const rows = [...cases.values()].sort((a, b) => (b.updated_at > a.updated_at ? 1 : -1)).slice(0, 200);
  document.querySelector("#case-count").textContent = cases.size;
  document.querySelector("#cases tbody").innerHTML = rows.map(c => `<tr data-case="${c.case_id}">
    <td>${esc(c.report.ticket_no || "")}</td><td>${esc(c.report.category || "")}</td>
    <td class="state-${c.state}">${STATE_ZH[c.state] || c.state}</td>
    <td>${esc(c.areas.county ? c.areas.county.name : "—")}</td><td>${esc(c.units.lead ? c.units.lead.name : "—")}</td></tr>`).join("");
}
function esc(s) { return String(s).replace(/[&<>"]/g, ch => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[ch])); }
function upsert(c) { if (c && (!cases.has(c.case_id) || cases.get(c.case_id).version <= c.version)) cases.set(c.case_id, c); }
function onEvent(e) {
  position = e.position; upsert(e.case);
  const li = document.createElement("li");
  li.textContent = `#${e.position} ${e.event.type} ${e.case ? (e.case.report.ticket_no || "") : ""}`;
  const feed = document.querySelector("#feed"); feed.prepend(li);
  while (feed.children.length > 200) feed.lastChild.remove();
}
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/console?token=${encodeURIComponent(token)}`);
  const conn = document.querySelector("#conn");
  ws.onopen = () => { retry = 500; conn.textContent = "已连接"; conn.className = "conn on";
    ws.send(JSON.stringify({ type: "subscribe", areas: [], since: position })); };
  ws.onmessage = m => {
    const msg = JSON.parse(m.data);
    if (msg.type === "snapshot") { cases.clear(); msg.cases.forEach(upsert); position = msg.position; }
    else if (msg.type === "event") onEvent(msg);
    else if (msg.type === "batch") msg.events.forEach(onEvent);
    else if (msg.type === "ping" && msg.position > (position || 0)) position = msg.position;
    render();
  };
  ws.onclose = () => { conn.textContent = "重新连接中…"; conn.className = "conn off";
    setTimeout(connect, retry); retry = Math.min(retry * 2, 10000); };
}
function start() { document.querySelector("#login").hidden = true; document.querySelector("#main").hidden = false; connect(); }
document.querySelector("#login").addEventListener("submit", async ev => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const resp = await fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.get("username"), password: form.get("password") }) });
  const body = await resp.json();
  if (!resp.ok) { document.querySelector("#login-error").textContent = "登录失败：" + body.error.message; return; }
  token = body.token; sessionStorage.setItem("token", token); start();
});
if (token) start();
