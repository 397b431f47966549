// The live feed of INTERFACES.md "Websocket": subscribe, keep the last position, resume after any
// disconnect with `since`, so that no event is missed or shown twice. Positions only grow: an event at or
// below the last position is a repeat and is dropped here, once, for every console.

export class LiveFeed {
  /**
   * @param {object} opts
   * @param {() => string} opts.token        the signed-in user's token
   * @param {string[]} [opts.areas]          area codes to watch (empty: the caller's whole jurisdiction)
   * @param {(cases: object[], position: number, alerts: object[]) => void} opts.onSnapshot  alerts: open and
   *   acknowledged early-warning alerts in scope, as GET /api/v1/alerts shows them
   * @param {(events: object[]) => void} opts.onEvents  events in position order, each {position, case_id, event, case}
   * @param {(alerts: object[]) => void} [opts.onAlerts]  alerts raised or changed, in position order (the alert as
   *   of now: keep the highest `version` per `alert_id`)
   * @param {(directives: object[], snapshot?: boolean) => void} [opts.onDirectives]  directives issued or
   *   changed, in position order (as of now: keep the highest `version` per `directive_id`); after a snapshot, the
   *   current directives in scope with `snapshot` true
   * @param {(incidents: object[], frames: object[]) => void} [opts.onIncidents]  emergency incidents declared or
   *   changed (or that cases joined), in position order, as GET /api/v1/incidents/{id} shows them; after each
   *   snapshot, its active incidents in scope as one call with no frames
   * @param {(state: "connecting"|"live"|"reconnecting"|"offline") => void} [opts.onStatus]
   * @param {() => Promise<boolean>} [opts.checkAuth]  after a failed handshake: is the token still good?
   * @param {() => void} [opts.onUnauthorized]
   */
  constructor(opts) {
    this.opts = opts;
    this.position = null;
    this.ws = null;
    this.retryMs = 500;
    this.stopped = false;
    this.watchdog = null;
    // Diagnostics for the people running the console (and its tests): what arrived, how often it resumed.
    this.stats = { events: 0, repeats: 0, reconnects: 0, snapshots: 0, received: [] };
  }

  start() {
    this.stopped = false;
    this._connect("connecting");
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.watchdog);
    if (this.ws) this.ws.close(1000, "bye");
  }

  /** Drop the connection (as a network fault would) and resume from the last position. */
  reconnect() {
    if (this.ws) this.ws.close(4000, "resume");
  }

  /** Resume at once (the phone is back online): skip whatever backoff wait is pending. */
  resume() {
    this.retryMs = 500;
    if (!this.ws || this.ws.readyState === WebSocket.CLOSED) this._connect("reconnecting");
    else this.reconnect();
  }

  _connect(status) {
    this._status(status);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/console?token=${encodeURIComponent(this.opts.token())}`);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      ws.send(JSON.stringify({ type: "subscribe", areas: this.opts.areas || [], since: this.position }));
      this._feedWatchdog();
    };
    ws.onmessage = (message) => {
      this._feedWatchdog();
      this.retryMs = 500;
      this._handle(JSON.parse(message.data));
    };
    ws.onclose = async () => {
      clearTimeout(this.watchdog);
      if (this.ws !== ws || this.stopped) return;
      // A refused handshake looks like any network failure to a browser: ask the API whether the
      // sign-in expired before trying again.
      if (!opened && this.opts.checkAuth && !(await this.opts.checkAuth())) {
        this.stopped = true;
        this._status("offline");
        if (this.opts.onUnauthorized) this.opts.onUnauthorized();
        return;
      }
      this.stats.reconnects += 1;
      this._status("reconnecting");
      // Backoff with jitter: after a hub restart a thousand consoles must not return in the same second.
      const wait = this.retryMs * (0.5 + Math.random());
      this.retryMs = Math.min(this.retryMs * 2, 15000);
      setTimeout(() => { if (!this.stopped) this._connect("reconnecting"); }, wait);
    };
  }

  _handle(msg) {
    if (msg.type === "subscribed") {
      this._status("live");
    } else if (msg.type === "snapshot") {
      this.stats.snapshots += 1;
      this.position = msg.position;
      this.opts.onSnapshot(msg.cases, msg.position, msg.alerts || []);
      if (this.opts.onDirectives) this.opts.onDirectives(msg.directives || [], true);
      if (this.opts.onIncidents) this.opts.onIncidents(msg.incidents || [], []);
      this._status("live");
    } else if (msg.type === "event") {
      this._events([msg]);
    } else if (msg.type === "alert") {
      this._events([msg]);
    } else if (msg.type === "batch") {
      this._events(msg.events);
    } else if (msg.type === "ping") {
      if (typeof msg.position === "number" && (this.position === null || msg.position > this.position)) {
        this.position = msg.position; // nothing for us up to here: resume after it
      }
    } else if (msg.type === "error") {
      console.warn("console feed:", msg);
    }
  }

  _events(events) {
    const fresh = [];
    for (const e of events) {
      if (this.position !== null && e.position <= this.position) { this.stats.repeats += 1; continue; }
      this.position = e.position;
      fresh.push(e);
    }
    if (!fresh.length) return;
    this.stats.events += fresh.length;
    this.stats.received.push(...fresh.map((e) => e.position));
    if (this.stats.received.length > 5000) this.stats.received.splice(0, this.stats.received.length - 5000);
    // Early-warning alerts travel in the same feed ({"type": "alert", "position", "alert"}): they go to
    // `onAlerts` (when the console has one), the case events to `onEvents`.
    // Emergency incidents likewise ({"type": "incident", "position", "event", "incident"}) to `onIncidents`.
    const alerts = fresh.filter((e) => e.type === "alert");
    // Directives likewise ({"type": "directive", "position", "directive"}) go to `onDirectives`, incidents
    // ({"type": "incident", "position", "event", "incident"}) to `onIncidents`.
    const directives = fresh.filter((e) => e.type === "directive");
    const incidents = fresh.filter((e) => e.type === "incident");
    const cases = alerts.length || directives.length || incidents.length
      ? fresh.filter((e) => e.type !== "alert" && e.type !== "directive" && e.type !== "incident") : fresh;
    if (alerts.length && this.opts.onAlerts) this.opts.onAlerts(alerts.map((e) => e.alert));
    if (directives.length && this.opts.onDirectives) this.opts.onDirectives(directives.map((e) => e.directive));
    if (incidents.length && this.opts.onIncidents) this.opts.onIncidents(incidents.map((e) => e.incident), incidents);
    if (cases.length) this.opts.onEvents(cases);
  }

  _feedWatchdog() {
    // The hub pings every few seconds; silence for 45 s means a dead connection the OS has not noticed.
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.reconnect(), 45000);
  }

  _status(state) {
    this.status = state;
    if (this.opts.onStatus) this.opts.onStatus(state);
  }
}
