// Early-warning alerts (预警) as both consoles hold them: the feed's snapshot `alerts` and its `alert` items
// (README "Early warning"), kept at the highest `version` per alert_id, plus what the REST API answers.
// Also how an alert reads (one line for a banner, its evidence for a list) — words from i18n.js only.

import { categoryLabel, formatTime, roleName, t } from "/static/shared/i18n.js";

// Who may act, as the API decides (dispatch/warning.py ACKNOWLEDGE_ROLES / CLOSE_ROLES): the consoles only
// hide what would be refused; the API's answer still rules (a refusal is shown as its error).
export const ACKNOWLEDGE_ROLES = new Set(["admin", "city_operator", "county_dispatcher", "township_handler"]);
export const CLOSE_ROLES = new Set(["admin", "city_operator", "county_dispatcher"]);

export class AlertBook {
  constructor() {
    this.alerts = new Map(); // alert_id -> the newest version seen
    this.listeners = new Set();
  }

  /** fn(changed, how): changed = [{alert, previous}], how = "snapshot" | "live" | "rest". */
  on(fn) { this.listeners.add(fn); }

  /** The feed's snapshot: open and acknowledged alerts in scope (closed ones we hold stay until replaced). */
  replace(list) {
    const keep = new Set((list || []).map((a) => a.alert_id));
    for (const [id, a] of this.alerts) if (a.state !== "closed" && !keep.has(id)) this.alerts.delete(id);
    this.put(list || [], "snapshot");
  }

  /** Alerts from the feed or the API: each kept only if not older than the one held. */
  put(list, how = "live") {
    const changed = [];
    for (const a of list) {
      const previous = this.alerts.get(a.alert_id);
      if (previous && (previous.version ?? 0) >= (a.version ?? 0)) continue;
      this.alerts.set(a.alert_id, a);
      changed.push({ alert: a, previous });
    }
    if (changed.length || how === "snapshot") this.listeners.forEach((fn) => fn(changed, how));
    return changed;
  }

  get(id) { return this.alerts.get(id); }

  /** Newest raised first; `states` filters (default: all). */
  list(states = null) {
    return [...this.alerts.values()].filter((a) => !states || states.includes(a.state))
      .sort((a, b) => String(b.raised_at).localeCompare(String(a.raised_at)));
  }
}

/** A change worth a banner: a new open alert, or an open one that grew. */
export function isNews({ alert, previous }) {
  if (alert.state !== "open") return false;
  return !previous || (alert.observed ?? 0) > (previous.observed ?? 0);
}

/** Its category in the console's language: the configured name of its code, else the path's last level. */
export function alertCategory(a) {
  const cat = a.category || {};
  const path = cat.path || [];
  const named = cat.code ? categoryLabel(cat.code) : "";
  return named && named !== cat.code ? named : (path[path.length - 1] || cat.code || "");
}

export function alertCategoryPath(a) {
  const path = (a.category || {}).path || [];
  return path.length ? path.join(" › ") : alertCategory(a);
}

/** "青秀区新竹街道" when the county's name is known (countyName(code)), else the area's own name. */
export function alertPlace(a, countyName = () => "") {
  const area = a.area || {};
  const county = area.level === "township" && a.county_code ? countyName(a.county_code) : "";
  return `${county || ""}${area.name || area.code || ""}`;
}

export function windowText(a) {
  const hours = (a.window || {}).hours;
  if (!hours) return "";
  return hours >= 24 && hours % 24 === 0 ? t("alert.window_days", { n: hours / 24 }) : t("alert.window_hours", { n: hours });
}

export function expectedText(a) {
  const e = Number(a.expected ?? 0);
  // Below 0.005, two decimals would say "expected 0.00": as if the reports were impossible, not just rare.
  if (e > 0 && e < 0.01) return "<0.01";
  return e >= 10 ? e.toFixed(0) : e >= 1 ? e.toFixed(1) : e >= 0.1 ? e.toFixed(1) : e.toFixed(2);
}

/** One line: 预警：青秀区新竹街道 供水 1小时内 12 起（预期 0.1）. */
export function alertLine(a, countyName) {
  const key = a.kind === "iot_cluster" ? "alert.line_iot" : "alert.line";
  return t(key, { place: alertPlace(a, countyName), category: alertCategory(a), window: windowText(a),
                  n: a.observed ?? 0, expected: expectedText(a), devices: (a.devices || []).length || a.observed || 0 });
}

/** 王某（街镇承办人） 2026年12月6日 09:30 — who acknowledged (or closed) and when. */
export function whoWhen(by, at) {
  if (!by) return "";
  const who = t("actor.person", { name: by.name || by.username || "", unit: roleName(by.role) });
  return `${who} ${formatTime(at)}`;
}

/** The evidence and what people did, as [label, value] rows for a list of facts. */
export function alertFacts(a, countyName) {
  const rows = [
    [t("alert.kind"), alertKindName(a.kind)],
    [t("alert.category"), alertCategoryPath(a)],
    [t("alert.area"), alertPlace(a, countyName)],
    [t("alert.window"), `${windowText(a)} · ${t("alert.observed", { n: a.observed ?? 0 })} / ${t("alert.expected", { n: expectedText(a) })}`],
    [t("alert.raised_at"), formatTime(a.raised_at)],
  ];
  if (a.kind === "iot_cluster" && (a.devices || []).length) rows.push([t("alert.devices"), a.devices.join(t("why.list_sep"))]);
  if (a.acknowledged_by) rows.push([t("alert.acknowledged"), whoWhen(a.acknowledged_by, a.acknowledged_at)]);
  if (a.closed_by) rows.push([t("alert.closed"), whoWhen(a.closed_by, a.closed_at)]);
  if (a.note) rows.push([t("alert.note"), a.note]);
  return rows;
}

export const alertStateName = (state) => t(`alert.state.${state}`);
export const alertKindName = (kind) => t(`alert.kind.${kind}`);
