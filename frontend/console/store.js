// What the console knows about the cases it may see: the snapshot of the live feed, kept current by its
// events. Modules subscribe to changes instead of calling each other.

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

  /** Feed events, in position order: keep the higher version of each case. */
  apply(events) {
    const changed = new Map();
    for (const e of events) {
      if (!e.case) continue;
      const known = this.cases.get(e.case_id);
      if (!known || (e.case.version ?? 0) >= (known.version ?? 0)) this.cases.set(e.case_id, e.case);
      changed.set(e.case_id, this.cases.get(e.case_id));
    }
    this.listeners.events.forEach((fn) => fn(events, changed));
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
