// How a case looks on a console: which deadline runs now and whether it is on time, in warning or
// overdue. The server's SLA schedule already holds the times (working calendar, warning point); the
// console only compares them with the clock, so that countdowns move between events.

// Which clocks run in which state (the schedule's own names: "sign" for 签收, "resolve" for 办结).
const RUNNING = { dispatched: ["sign", "resolve"], return_requested: [], accepted: ["resolve"] };

/** The deadline that matters now: {key, due, warning} or null (nothing running). */
export function activeDeadline(c) {
  const schedule = c.sla || {};
  for (const clock of RUNNING[c.state] || []) {
    const s = schedule[clock];
    if (s && s.due) return { key: clock === "sign" ? "sign_by" : "resolve_by", due: s.due, warning: s.steps && s.steps.warning };
  }
  const deadlines = c.deadlines || {};
  if (c.state === "resolved" && deadlines.callback_by) return { key: "callback_by", due: deadlines.callback_by, warning: null };
  if (RUNNING[c.state] && deadlines.resolve_by) return { key: "resolve_by", due: deadlines.resolve_by, warning: null };
  return null;
}

// What meets each deadline: signing for the case (签收), resolving it (办结), and the callback that closes it.
const MET_AT = { sign_by: "accepted_at", resolve_by: "resolved_at", callback_by: "closed_at" };
const DEADLINE_ORDER = ["sign_by", "resolve_by", "callback_by"];
const RUNS_IN = { sign_by: ["dispatched"], resolve_by: ["dispatched", "accepted"], callback_by: ["resolved"] };

/**
 * Every deadline of a case and where it stands, in the loop's order: {key, due, met, late, running}.
 * `met` is when it was met (null while not), `late` whether that was after `due`; a deadline not met is
 * `running` while the case's state runs its clock (a console counts it down), else stopped (the clock
 * paused for a return review, or the case left the loop without it). Both consoles read deadlines here.
 */
export function deadlineStates(c) {
  const deadlines = c.deadlines || {};
  const keys = Object.keys(deadlines).filter((k) => deadlines[k])
    .sort((a, b) => rank(a) - rank(b));
  return keys.map((key) => {
    const due = deadlines[key];
    const met = (MET_AT[key] && c[MET_AT[key]]) || null;
    return { key, due, met, late: Boolean(met && Date.parse(met) > Date.parse(due)),
             running: !met && (RUNS_IN[key] || []).includes(c.state), paused: !met && c.state === "return_requested" };
  });
}

function rank(key) {
  const i = DEADLINE_ORDER.indexOf(key);
  return i < 0 ? DEADLINE_ORDER.length : i;
}

/** "on_time" | "warning" | "overdue" | null (closed, merged, parked...). */
export function slaStatus(c, now = Date.now()) {
  const d = activeDeadline(c);
  if (!d) return null;
  if (now > Date.parse(d.due)) return "overdue";
  if (d.warning && now > Date.parse(d.warning)) return "warning";
  return "on_time";
}

/** A short title for lists: the category's last level (or the channel's name), and where. */
export function caseTitle(c) {
  const report = c.report || {};
  const category = (c.category && c.category.path && c.category.path[c.category.path.length - 1]) || report.category || "";
  const area = c.areas || {};
  const place = (area.township || area.county || {}).name || "";
  return [category, place].filter(Boolean).join(" · ");
}

/** Colours by state group and SLA, shared by the map markers and the lists. */
export const SLA_COLOURS = { on_time: "#2e9d57", warning: "#e6a117", overdue: "#d23c3c" };
export const STATE_COLOURS = { received: "#8c8c8c", triage: "#7b61c4", dispatched: "#2f7de1", return_requested: "#c46bd6",
  accepted: "#2f7de1", resolved: "#1a9c9c", closed: "#9aa3ad", merged: "#b5bcc4", parked: "#8a6d3b", rejected: "#b5bcc4" };

/** The marker colour of a case: its SLA colour while a clock runs, else its state's colour. */
export function caseColour(c, now = Date.now()) {
  const status = slaStatus(c, now);
  return status ? SLA_COLOURS[status] : (STATE_COLOURS[c.state] || "#8c8c8c");
}

/**
 * A feed event's `case` onto the copy a console holds (INTERFACES.md, "Websocket"): a whole case replaces it, a
 * patch (`"patch": true`: the fields the event changed, with `case_id` and `version`) sets its fields on it.
 * Nothing older than the copy held is applied, so a late patch never rolls a field back; a patch of the same
 * version carries the same values. Returns the case to keep — `held` itself when nothing changes — or null for a
 * patch of a case not held: the hub sends a case whole wherever a console may lack it (its first event, one that
 * places or reopens it), so such a patch is of a case this console does not show (finished before it connected).
 */
export function applyCase(held, incoming) {
  if (!incoming) return held || null;
  if (held && (incoming.version ?? 0) < (held.version ?? 0)) return held;
  if (!incoming.patch) return incoming;
  if (!held) return null;
  const next = { ...held };
  for (const [key, value] of Object.entries(incoming)) if (key !== "patch") next[key] = value;
  return next;
}
