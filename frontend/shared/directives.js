// Directives (政令一键智达) on a console: the directives a console holds, kept at their newest version from the
// REST list, the snapshot and the live `directive` frames (INTERFACES.md "Websocket"; the hub's document is the
// whole directive, so a newer one replaces an older one and a late older one is ignored).

/** The directives a console holds, by id; `onChange` runs after every change. */
export class DirectiveBook {
  constructor(onChange = () => {}) {
    this.byId = new Map();
    this.onChange = onChange;
  }

  /** Keep each directive at its highest version; returns whether anything changed. */
  put(docs) {
    let changed = false;
    for (const d of docs || []) {
      const held = this.byId.get(d.directive_id);
      if (held && (held.version ?? 0) >= (d.version ?? 0)) continue;
      this.byId.set(d.directive_id, d);
      changed = true;
    }
    if (changed) this.onChange();
    return changed;
  }

  /** Newest first (by issue time). */
  list() {
    return [...this.byId.values()].sort((a, b) => Date.parse(b.issued_at) - Date.parse(a.issued_at));
  }

  get(id) { return this.byId.get(id) || null; }
}

/** The answer a directive requires from a unit: 签收 (`ack`) or a reply (`report`). */
export function hasAnswered(d, r) {
  return d.reply === "report" ? Boolean(r.reply) : Boolean(r.acknowledged_at);
}

/** How far a directive is: units that gave the required answer, of all, and the share in whole percent. */
export function progress(d) {
  const total = d.total || (d.recipients || []).length;
  const done = (d.recipients || []).filter((r) => hasAnswered(d, r)).length;
  return { done, total, pct: total ? Math.round((100 * done) / total) : 0 };
}

/** The units still to answer, in the directive's order. */
export function missing(d) {
  return (d.recipients || []).filter((r) => !hasAnswered(d, r));
}
