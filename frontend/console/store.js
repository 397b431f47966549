// What the console knows about the cases it may see: the snapshot of the live feed, kept current by its
// events (whole cases and patches, applied by applyCase). Modules subscribe to changes instead of calling each other.

import { applyCase } from "/static/shared/cases.js";

export class CaseStore {
  /** @param {{finished: string[]}} states  the hub's case states (GET /api/v1/console/config "states") */
  constructor(states) {
    this.finished = new Set(states.finished); // closed, rejected, merged...: as the hub names them
    this.cases = new Map(); // case_id -> case (the newest version seen)
    this.snapshotPosition = null;
    this.listeners = { snapshot: new Set(), events: new Set() };
  }

  on(kind, fn) { this.listeners[kind].add(fn); }

  /** The snapshot of the feed replaces everything. */
  replace(cases, position) {
    this.cases = new Map(cases.map((c) => [c.case_id, c]));
    if (this.snapshotPosition === null) this.snapshotPosition = position;
    this.listeners.snapshot.forEach((fn) => fn(this));
  }

  /** Feed events, in position order: whole cases and patches onto the newest version of each case. Listeners
   *  get the events, the cases they changed (as now held) and the ids of every case they touched. */
  apply(events) {
    const changed = new Map();
    const touched = new Set();
    for (const e of events) {
      touched.add(e.case_id);
      if (!e.case) continue;
      const known = this.cases.get(e.case_id);
      const next = applyCase(known, e.case);
      if (!next) continue; // a patch of a case this console does not hold (see applyCase)
      if (next !== known) this.cases.set(e.case_id, next);
      changed.set(e.case_id, next);
    }
    this.listeners.events.forEach((fn) => fn(events, changed, touched));
  }

  /** A case fetched over REST (newer than what the feed brought, or the same). */
  put(c) {
    const known = this.cases.get(c.case_id);
    if (!known || (c.version ?? 0) >= (known.version ?? 0)) {
      const copy = { ...c }; // the feed's cases carry neither a timeline nor actions
      delete copy.timeline;
      delete copy.allowed_actions;
      this.cases.set(c.case_id, copy);
    }
  }

  /** Nobody works on it any more: hidden from the map unless asked for, not counted as open. */
  isFinished(c) { return this.finished.has(c.state); }

  get(id) { return this.cases.get(id); }
  values() { return this.cases.values(); }
}
