// The situation map: the real boundaries with drill-down (city → county → township → community → grid),
// live case markers coloured by SLA/state and clustered when dense, and a hotspot (heat) layer of case
// counts per area. Without a tile server the boundaries alone make the map (PRODUCT.md section 6).

import { caseColour, slaStatus, SLA_COLOURS, STATE_COLOURS } from "/static/shared/cases.js";
import { esc, stateName, t } from "/static/shared/i18n.js";
import { caseLabel, w } from "./words.js";

const L = window.L;
const CHILD = { city: "county", county: "township", township: "community", community: "grid" };
const HEAT_LEVELS = new Set(["county", "township", "community"]);
const SEVERITY = { on_time: 1, warning: 2, overdue: 3 };
const SEVERITY_NAME = { 1: "on_time", 2: "warning", 3: "overdue" };
const HEAT_SCALE = ["#3b2a1a", "#7a4a12", "#b8661a", "#e08a1e", "#f4b13a", "#ffd86b"];
const URGENCY_RADIUS = { critical: 9, urgent: 8 };

const AREA_STYLE = { color: "#4fa3d1", weight: 1.2, opacity: 0.9, fillColor: "#143049", fillOpacity: 0.35 };
const CONTEXT_STYLE = { color: "#2b5573", weight: 1, opacity: 0.7, fill: false, interactive: false };
const OUTLINE_STYLE = { color: "#9fd8ff", weight: 3, opacity: 0.9, fill: false, interactive: false };

export class CaseMap {
  /**
   * @param {object} o
   * @param {HTMLElement} o.el   the map's element
   * @param {import("/static/shared/api.js").Api} o.api
   * @param {object} o.config    GET /api/v1/console/config
   * @param {import("./store.js").CaseStore} o.store
   * @param {(id: string) => void} o.onCase   a marker was clicked
   * @param {(path: object[]) => void} [o.onDrill]
   */
  constructor(o) {
    Object.assign(this, o);
    this.markers = new Map(); // case_id -> L.CircleMarker
    this.showClosed = false;
    this.heatOn = false;
    this.heatCategory = "";
    this.heatCounts = null; // code -> cases, when the heat layer is on
    this.shapes = new Map(); // parent code ("" = city) -> FeatureCollection
    this.path = [{ code: null, name: t("drill.city"), level: "city" }];
    this.drillSeq = 0;
    this.selected = null;

    // No fade: labels of a level we left must go at once (they would linger 200 ms under the new ones).
    const map = L.map(this.el, { zoomControl: true, attributionControl: false, zoomSnap: 0.25, minZoom: 6,
                                 maxZoom: 18, fadeAnimation: false });
    this.map = map;
    const cfg = this.config.map;
    // The user's own jurisdiction, whole, at whatever size the screen is (the server knows its box);
    // the boundaries drawn next refine it. Without boundaries there is nothing to fit: the city centre.
    this.fitted = null; // the bounds last fitted, for as long as the user has not moved the map since
    if (!this.fit(cfg.bounds && L.latLngBounds(cfg.bounds))) map.setView([cfg.centre.lat, cfg.centre.lng], cfg.centre.zoom);
    map.on("zoomstart movestart", () => { if (!this.fitting) this.fitted = null; });
    // A zoom the user started (wheel, +/−, pinch) animates for a quarter second, and Leaflet drops any view
    // set meanwhile (setView returns early while _animatingZoom): a fit asked for then (全市 clicked straight
    // after a wheel turn) would be lost and the map left zoomed in. Such a fit waits for the zoom to end.
    this.zooming = false;
    this.pendingFit = null;
    map.on("zoomstart", () => { if (!this.fitting) this.zooming = true; });
    map.on("zoomend", () => {
      if (this.fitting) return;
      this.zooming = false;
      const pending = this.pendingFit;
      this.pendingFit = null;
      if (pending) this.fit(pending);
    });
    // The map's box changes with the layout as well as with the window (the toolbar wraps, a column
    // collapses): keep it sized, and keep a fitted view fitted.
    if (window.ResizeObserver) new ResizeObserver(() => this.invalidate()).observe(this.el);
    if (cfg.tile_url) {
      L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution || "", maxZoom: 18 }).addTo(map);
      L.control.attribution({ prefix: false }).addTo(map);
    }
    for (const [name, z] of [["context", 380], ["areas", 390], ["outline", 395], ["alerts", 396]]) {
      map.createPane(name).style.zIndex = String(z);
    }
    map.getPane("context").style.pointerEvents = "none";
    map.getPane("outline").style.pointerEvents = "none";
    map.getPane("alerts").style.pointerEvents = "none"; // a pulsing area must not catch the clicks that drill
    this.alertLayers = new Map(); // alert_id -> L.GeoJSON of its area, pulsing while the alert is open
    this.alertSeq = 0;

    this.contextLayer = L.layerGroup().addTo(map);
    this.areaLayer = null;
    this.outlineLayer = L.layerGroup().addTo(map);
    this.cluster = L.markerClusterGroup({
      animate: false, showCoverageOnHover: false, maxClusterRadius: 36, spiderfyOnMaxZoom: true,
      disableClusteringAtZoom: 16, chunkedLoading: true,
      iconCreateFunction: (cluster) => clusterIcon(cluster),
    });
    map.addLayer(this.cluster);
    this.legend = L.control({ position: "bottomright" });
    this.legend.onAdd = () => {
      const div = L.DomUtil.create("div", "legend");
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      div.addEventListener("click", (ev) => {
        if (!ev.target.closest(".legend-toggle")) return;
        this.legendOpen = !this.legendOpen;
        this.legendChosen = true; // the user's choice holds whatever the size
        this.renderLegend();
      });
      this.legendEl = div;
      this.renderLegend();
      return div;
    };
    this.legendChosen = false;
    this.legendOpen = this.roomy();
    this.legend.addTo(map);
    // Colours follow the clock (a case turns amber and red without any event): recolour twice a minute.
    this.recolourTimer = setInterval(() => this.recolourAll(), 30000);
  }

  // --- drill-down -------------------------------------------------------------------------------------

  current() { return this.path[this.path.length - 1]; }

  async children(code) {
    const key = code || "";
    if (!this.shapes.has(key)) {
      const params = { simplify_m: code ? 15 : 60 };
      if (code) params.parent = code;
      this.shapes.set(key, await this.api.get("/api/v1/areas.geojson", params));
    }
    return this.shapes.get(key);
  }

  /** Go to `path` (a list of {code, name, level} from the city down). */
  async setPath(path) {
    const seq = ++this.drillSeq;
    this.path = path;
    const cur = this.current();
    const parent = path.length > 1 ? path[path.length - 2] : null;
    let shapes, parentShapes = null;
    try {
      shapes = await this.children(cur.code);
      if (parent) parentShapes = await this.children(parent.code);
    } catch (err) {
      if (seq === this.drillSeq) this.toast && this.toast(err.describe ? err.describe() : String(err), "error");
      return;
    }
    if (seq !== this.drillSeq) return; // a later click won
    this.drawAreas(shapes, parentShapes, cur);
    this.refilter();
    if (this.onDrill) this.onDrill(this.path);
    if (this.heatOn) await this.loadHeat();
  }

  drawAreas(shapes, parentShapes, cur) {
    this.contextLayer.clearLayers();
    this.outlineLayer.clearLayers();
    if (this.areaLayer) this.map.removeLayer(this.areaLayer);
    if (parentShapes) {
      // The siblings of the current area, faint, and the area itself outlined: where am I?
      this.contextLayer.addLayer(L.geoJSON(parentShapes, { pane: "context", style: () => CONTEXT_STYLE }));
      const own = parentShapes.features.filter((f) => f.properties.code === cur.code);
      if (own.length) this.outlineLayer.addLayer(L.geoJSON({ type: "FeatureCollection", features: own },
        { pane: "outline", style: () => OUTLINE_STYLE }));
    }
    const drillable = Boolean(CHILD[CHILD[cur.level]]);
    this.areaLayer = L.geoJSON(shapes, {
      pane: "areas",
      style: (f) => this.areaStyle(f),
      onEachFeature: (feature, layer) => {
        const p = feature.properties;
        layer.bindTooltip(esc(areaLabel(p)), { permanent: shapes.features.length <= 40, direction: "center",
                                         className: "area-label", opacity: 1 });
        layer.on("mouseover", () => layer.setStyle({ weight: 2.5, fillOpacity: this.heatCounts ? 0.8 : 0.5 }));
        layer.on("mouseout", () => this.areaLayer && this.areaLayer.resetStyle(layer));
        if (drillable) {
          layer.on("click", () => this.setPath([...this.path, { code: p.code, name: p.name, level: p.level }]));
        }
      },
    }).addTo(this.map);
    // The area drilled into, whole: its children's shapes, else its own outline, else (the city, with
    // nothing drawn) the server's box of the user's jurisdiction.
    const candidates = [this.areaLayer.getBounds(), this.outlineLayer.getLayers()[0]?.getBounds(),
                        !cur.code && this.config.map.bounds ? L.latLngBounds(this.config.map.bounds) : null];
    this.fit(candidates.find((b) => b && b.isValid()));
  }

  /** Show `bounds` whole (false when there is nothing to fit). */
  fit(bounds) {
    if (!bounds || !bounds.isValid()) return false;
    if (this.zooming) { this.pendingFit = bounds; return true; } // applied on the zoom's zoomend
    this.fitting = true;
    try {
      this.map.fitBounds(bounds, { padding: [16, 16], animate: false });
    } finally {
      this.fitting = false;
    }
    this.fitted = bounds;
    return true;
  }

  areaStyle(feature) {
    if (!this.heatCounts) return AREA_STYLE;
    const n = this.heatCounts.get(feature.properties.code) || 0;
    return { ...AREA_STYLE, fillColor: heatColour(n, this.heatMax), fillOpacity: n ? 0.72 : 0.3 };
  }

  // --- alerts -----------------------------------------------------------------------------------------

  /** The areas of open alerts pulse (CSS class `alert-pulse`, console.css) over whatever level is drawn;
   *  an acknowledged or closed alert stops. Shapes come from the same cached /api/v1/areas.geojson pages. */
  async setAlerts(alerts) {
    const seq = ++this.alertSeq;
    const open = alerts.filter((a) => a.state === "open" && a.area && a.area.code);
    const wanted = new Set(open.map((a) => a.alert_id));
    for (const [id, layer] of this.alertLayers) {
      if (!wanted.has(id)) { this.map.removeLayer(layer); this.alertLayers.delete(id); }
    }
    for (const a of open) {
      if (this.alertLayers.has(a.alert_id)) continue;
      const parent = a.area.level === "township" ? a.county_code || a.area.code.slice(0, 6) : null;
      let shapes;
      try { shapes = await this.children(parent); } catch { continue; } // no boundaries: nothing to pulse
      if (seq !== this.alertSeq || this.alertLayers.has(a.alert_id)) return;
      const own = shapes.features.filter((f) => f.properties.code === a.area.code);
      if (!own.length) continue;
      const layer = L.geoJSON({ type: "FeatureCollection", features: own }, {
        pane: "alerts", interactive: false,
        style: () => ({ className: "alert-pulse", color: "#ff5a4f", weight: 3, opacity: 1, fillColor: "#ff3b30", fillOpacity: 0.3 }),
      }).addTo(this.map);
      layer.eachLayer((part) => {
        const el = part.getElement && part.getElement();
        if (el) { el.dataset.alertId = a.alert_id; el.dataset.area = a.area.code; }
      });
      this.alertLayers.set(a.alert_id, layer);
    }
  }

  /** The codes of the areas pulsing now (diagnostics and tests). */
  pulsingAreas() {
    return [...this.map.getPane("alerts").querySelectorAll("path.alert-pulse")].map((el) => el.dataset.area);
  }

  // --- hotspots ---------------------------------------------------------------------------------------

  async setHeat(on, category = this.heatCategory) {
    this.heatOn = on;
    this.heatCategory = category;
    if (on) await this.loadHeat();
    else { this.heatCounts = null; this.restyleAreas(); this.renderLegend(); }
  }

  async loadHeat() {
    const cur = this.current();
    const level = CHILD[cur.level];
    if (!HEAT_LEVELS.has(level)) {
      this.heatCounts = null;
      this.heatNote = w("map.heat_unavailable");
      this.restyleAreas();
      this.renderLegend();
      return;
    }
    const seq = this.drillSeq;
    const params = { level, days: 30 };
    if (this.heatCategory) params.category = this.heatCategory;
    if (cur.code) params.area = cur.code;
    let body;
    try {
      body = await this.api.get("/api/v1/hotspots", params);
    } catch (err) {
      if (this.toast) this.toast(err.describe ? err.describe() : String(err), "error");
      return;
    }
    if (seq !== this.drillSeq || !this.heatOn) return;
    const counts = new Map();
    for (const row of body.rows) counts.set(row.code, (counts.get(row.code) || 0) + row.cases);
    this.heatCounts = counts;
    this.heatMax = Math.max(1, ...counts.values());
    this.heatNote = null;
    this.restyleAreas();
    this.renderLegend();
  }

  restyleAreas() {
    if (!this.areaLayer) return;
    this.areaLayer.eachLayer((layer) => {
      layer.setStyle(this.areaStyle(layer.feature));
      const p = layer.feature.properties;
      const n = this.heatCounts ? (this.heatCounts.get(p.code) || 0) : null;
      layer.setTooltipContent(n === null ? esc(areaLabel(p)) : `${esc(areaLabel(p))} <b>${n}</b>`);
    });
  }

  // --- markers ----------------------------------------------------------------------------------------

  visible(c) {
    if (!c.location || typeof c.location.lat !== "number") return false;
    if (this.store.isFinished(c) && !this.showClosed) return false;
    const cur = this.current();
    if (!cur.code) return true;
    const area = (c.areas || {})[cur.level];
    return Boolean(area && area.code === cur.code);
  }

  setShowClosed(on) { this.showClosed = on; this.refilter(); }

  /** Rebuild every marker from the store (snapshot, drill, toggles). */
  refilter() {
    this.cluster.clearLayers();
    this.markers.clear();
    const fresh = [];
    for (const c of this.store.values()) {
      if (!this.visible(c)) continue;
      const m = this.makeMarker(c);
      this.markers.set(c.case_id, m);
      fresh.push(m);
    }
    this.cluster.addLayers(fresh);
    this.countChanged();
  }

  /** Cases changed by live events: add, move, recolour or remove their markers. */
  update(changed) {
    const refresh = [];
    for (const c of changed.values()) {
      const m = this.markers.get(c.case_id);
      if (!this.visible(c)) {
        if (m) { this.cluster.removeLayer(m); this.markers.delete(c.case_id); }
        continue;
      }
      if (!m) {
        const fresh = this.makeMarker(c);
        this.markers.set(c.case_id, fresh);
        this.cluster.addLayer(fresh);
        continue;
      }
      const was = m.getLatLng();
      m.caseData = c;
      if (was.lat !== c.location.lat || was.lng !== c.location.lng) {
        this.cluster.removeLayer(m);
        m.setLatLng([c.location.lat, c.location.lng]);
        this.cluster.addLayer(m);
      } else if (this.restyleMarker(m)) {
        refresh.push(m);
      }
    }
    if (refresh.length) this.cluster.refreshClusters(refresh);
    this.countChanged();
  }

  makeMarker(c) {
    const m = L.circleMarker([c.location.lat, c.location.lng], { radius: 6, weight: 1.5, color: "#08121c",
                                                                 fillOpacity: 0.95, className: "case-marker" });
    m.caseData = c;
    m.caseId = c.case_id;
    // markercluster hides and shows its children with these (L.Marker has them; circle markers do not).
    m.clusterHide = function hide() { this.setStyle({ opacity: 0, fillOpacity: 0 }); return this; };
    m.clusterShow = function show() { this.setStyle({ opacity: 1, fillOpacity: 0.95 }); return this; };
    this.restyleMarker(m);
    m.on("click", () => this.onCase(m.caseId));
    m.bindTooltip(() => markerTip(m.caseData), { direction: "top", offset: [0, -6], className: "case-tip" });
    return m;
  }

  /** Apply the case's colour; true when its severity (hence its cluster's colour) changed. */
  restyleMarker(m) {
    const c = m.caseData;
    const status = slaStatus(c);
    const severity = status ? SEVERITY[status] : 0;
    const changed = m.severity !== severity;
    m.severity = severity;
    const selected = this.selected === c.case_id;
    const base = window.innerWidth >= 1800 ? 8 : 6; // a wall screen is read from further away
    const radius = (URGENCY_RADIUS[(c.report || {}).urgency] || base) + (selected ? 3 : 0);
    m.setStyle({ fillColor: caseColour(c), radius, color: selected ? "#ffffff" : "#08121c", weight: selected ? 3 : 1.5 });
    return changed;
  }

  recolourAll() {
    const refresh = [];
    for (const m of this.markers.values()) if (this.restyleMarker(m)) refresh.push(m);
    if (refresh.length) this.cluster.refreshClusters(refresh);
  }

  select(id) {
    const before = this.selected;
    this.selected = id;
    for (const key of [before, id]) {
      const m = key && this.markers.get(key);
      if (m) { this.restyleMarker(m); if (key === id && m.bringToFront && m._map) m.bringToFront(); }
    }
  }

  /** Show a case's marker (zooming into its cluster); false when the case is not on the map. */
  async locate(id) {
    let m = this.markers.get(id);
    const c = this.store.get(id);
    if (!m && c && c.location && this.path.length > 1) { // outside the area drilled into: back to the city
      await this.setPath(this.path.slice(0, 1));
      m = this.markers.get(id);
    }
    if (!m) return false;
    this.cluster.zoomToShowLayer(m, () => { m.openTooltip(); });
    return true;
  }

  ids() { return [...this.markers.keys()]; }

  countChanged() {
    if (this.onCount) this.onCount(this.markers.size);
  }

  // --- legend -----------------------------------------------------------------------------------------

  /** Whether the map is big enough to keep the legend open over it (a wall screen); smaller maps get a
   * one-line legend button instead, so that the legend never covers the cases. */
  roomy() { return this.el.clientWidth >= 900 && this.el.clientHeight >= 720; }

  renderLegend() {
    if (!this.legendEl) return;
    const open = this.legendOpen !== false;
    this.legendEl.classList.toggle("collapsed", !open);
    const toggle = `<button type="button" class="legend-toggle" aria-expanded="${open}" title="${esc(w(open ? "legend.hide" : "legend.show"))}">`
      + `${esc(w("legend.title"))}<span aria-hidden="true">${open ? "▾" : "▸"}</span></button>`;
    if (!open) { this.legendEl.innerHTML = toggle; return; }
    const dot = (colour, label) => `<li><i style="background:${colour}"></i>${esc(label)}</li>`;
    let html = `${toggle}<ul>`;
    html += dot(SLA_COLOURS.on_time, t("sla.on_time")) + dot(SLA_COLOURS.warning, t("sla.warning"))
      + dot(SLA_COLOURS.overdue, t("sla.overdue"));
    for (const state of ["triage", "resolved", "parked", "closed"]) html += dot(STATE_COLOURS[state], stateName(state));
    html += `<li><i class="cl"></i>${esc(w("legend.cluster"))}</li></ul>`;
    if (this.heatOn && this.heatCounts) {
      const max = this.heatMax || 1;
      html += `<h4>${esc(w("map.heat_scale"))}</h4><div class="heat-scale">`
        + HEAT_SCALE.slice(1).map((c) => `<i style="background:${c}"></i>`).join("")
        + `</div><div class="heat-range"><span>0</span><span>${max}</span></div>`;
    } else if (this.heatOn && this.heatNote) {
      html += `<p class="muted">${esc(this.heatNote)}</p>`;
    }
    this.legendEl.innerHTML = html;
  }

  /** After a language switch. */
  relabel() {
    this.path[0].name = t("drill.city");
    this.renderLegend();
    if (this.heatOn) this.loadHeat();
  }

  /** After the map's box changed size: redraw, and fit again what was fitted unless the user moved since. */
  invalidate() {
    const fitted = this.fitted;
    this.fitting = true;
    try {
      this.map.invalidateSize({ animate: false, pan: false });
    } finally {
      this.fitting = false;
    }
    if (fitted) this.fit(fitted);
    if (!this.legendChosen && this.legendOpen !== this.roomy()) {
      this.legendOpen = this.roomy();
      this.renderLegend();
    }
  }
}

/** An area's name for a map label: the short form (新竹社区, not 新竹社区居委会) when there is one. */
function areaLabel(p) {
  const short = (p.short_names || []).find((s) => s.length >= 2 && s !== p.name);
  return short && p.level === "community" ? short : p.name;
}

function heatColour(n, max) {
  if (!n) return AREA_STYLE.fillColor;
  const steps = HEAT_SCALE.length - 1;
  const i = Math.min(steps, 1 + Math.floor((n / (max || 1)) * (steps - 0.001)));
  return HEAT_SCALE[i];
}

function clusterIcon(cluster) {
  let worst = 0;
  for (const m of cluster.getAllChildMarkers()) worst = Math.max(worst, m.severity || 0);
  const colour = worst ? SLA_COLOURS[SEVERITY_NAME[worst]] : "#5b7083";
  const n = cluster.getChildCount();
  const size = n < 10 ? 30 : n < 100 ? 36 : 44;
  return L.divIcon({ html: `<div style="background:${colour}"><span>${n}</span></div>`,
                     className: "case-cluster", iconSize: L.point(size, size) });
}

function markerTip(c) {
  const ticket = (c.report || {}).ticket_no || "";
  return `<b>${esc(caseLabel(c) || ticket)}</b><br>${esc(stateName(c.state))}${ticket ? " · " + esc(ticket) : ""}`;
}
