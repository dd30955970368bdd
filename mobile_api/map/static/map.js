// The dispatcher's live map: logs in, draws /v1/board, then applies the SSE stream.
// Never polls: after the first board every change arrives on /v1/board/stream.
// Every text comes from the shared catalogue (map.* keys, /i18n/i18n.js), every time is
// shown in the utility's zone with a date when not today (GC.i18n.time).
"use strict";

const T = (key, params) => GC.i18n.t(key, params);
// skill names are the catalogue's, shared with the crew app
const skills = (list) => list.map((s) => T("crew.skill." + s)).join("、");

if (typeof L === "undefined" || !L.markerClusterGroup) {
  document.getElementById("login-error").textContent =
    "the map library is missing from this server: run ./dev test or bash scripts/setup.d/map.sh";
  throw new Error("Leaflet is not vendored into mobile_api/map/static/vendor");
}

const URGENCY_COLOURS = {
  green: "#2e9d57",
  amber: "#e0a100",
  red: "#d33",
  projected_late: "#a61e8c",
  late: "#5c0a0a",
};
const RED_MIN = 15;
const AMBER_MIN = 30;
const STALE_FIX_MIN = 20; // mobile_api.board.geo.STALE_FIX_MIN

const state = {
  token: null,
  refreshToken: null,
  refreshTimer: null,
  source: null,
  connectedOnce: false,
  features: new Map(), // feature id -> GeoJSON feature
  layers: new Map(), // feature id -> Leaflet layer
  selected: null, // selected job id
  kpi: {},
  stats: { renders: [], changes: 0, lastChangeAt: null, boardRenderMs: null },
};
window.gridcrewMap = state;

// ------------------------------------------------------------------ auth
async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  const r = await fetch("/v1/auth/token", { method: "POST", body });
  if (!r.ok) {
    const problem = await r.json().catch(() => ({}));
    throw new Error(problem.detail || `login failed (${r.status})`);
  }
  const tokens = await r.json();
  if (tokens.role !== "dispatcher" && tokens.role !== "admin") {
    throw new Error(T("map.dispatcher_only"));
  }
  useTokens(tokens);
}

function useTokens(tokens) {
  state.token = tokens.access_token;
  state.refreshToken = tokens.refresh_token;
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, Math.max(30, tokens.expires_in * 0.8) * 1000);
}

async function refresh() {
  const r = await fetch("/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: state.refreshToken }),
  });
  if (!r.ok) {
    showLogin(T("map.session_ended"));
    return;
  }
  useTokens(await r.json());
  connectStream(); // the stream carries the token in its URL: reconnect with the new one
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  const r = await fetch(path, { ...options, headers });
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) showLogin(T("map.session_ended"));
  if (!r.ok) throw new Error(body.detail || `${path} answered ${r.status}`);
  return body;
}

function showLogin(message) {
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
  if (state.source) state.source.close();
  setStatus("off", T("map.status_offline"));
}

// ------------------------------------------------------------------ map
const map = L.map("map", { preferCanvas: true, minZoom: 8, maxZoom: 19 }).setView([30.72, 120.72], 12);
state.map = map;
const canvas = L.canvas({ padding: 0.3 });
const groups = {
  area: L.layerGroup().addTo(map),
  section: L.layerGroup().addTo(map),
  substation: L.layerGroup().addTo(map),
  meter_off: L.markerClusterGroup({
    chunkedLoading: true,
    showCoverageOnHover: false,
    maxClusterRadius: 60,
    iconCreateFunction: (c) => clusterIcon(c, "cluster-meter"),
  }).addTo(map),
  alarm: L.markerClusterGroup({
    chunkedLoading: true,
    showCoverageOnHover: false,
    maxClusterRadius: 40,
    iconCreateFunction: (c) => clusterIcon(c, "cluster-alarm"),
  }).addTo(map),
  incident: L.layerGroup().addTo(map),
  trail: L.layerGroup().addTo(map),
  job: L.layerGroup().addTo(map),
  crew: L.layerGroup().addTo(map),
};
// The layer switch and the legend speak the page's language: built once it is loaded.
function addControls() {
  const layers = {};
  for (const name of Object.keys(groups)) layers[T(`map.layer_${name}`)] = groups[name];
  L.control.layers(null, layers).addTo(map);
  const legend = L.control({ position: "bottomleft" });
  legend.onAdd = () => {
    const div = L.DomUtil.create("div", "legend");
    div.innerHTML =
      Object.entries(URGENCY_COLOURS)
        .map(([k, c]) => `<i style="background:${c}"></i>${escapeHtml(T(`map.urgency_${k}`))}`)
        .join(" ") +
      `<br><i style='background:#d33;border-radius:0;height:4px'></i>${escapeHtml(T("map.suspected_section"))}`;
    return div;
  };
  legend.addTo(map);
  }

function fitTerritory() {
  const areas = featuresOf("area").map((f) => state.layers.get(f.id)).filter(Boolean);
  if (areas.length) map.fitBounds(L.featureGroup(areas).getBounds().pad(-0.25));
}
state.fitTerritory = fitTerritory;

const fitControl = L.control({ position: "topleft" });
fitControl.onAdd = () => {
  const button = L.DomUtil.create("button", "fit-button");
  button.type = "button";
  button.title = T("map.all_title");
  button.textContent = T("map.all");
  L.DomEvent.on(button, "click", (e) => {
    L.DomEvent.stop(e);
    fitTerritory();
  });
  return button;
};

function clusterIcon(cluster, cls) {
  const n = cluster.getChildCount();
  const size = n < 100 ? 30 : n < 1000 ? 38 : 46;
  return L.divIcon({
    html: `<div><span>${n}</span></div>`,
    className: `marker-cluster ${cls}`,
    iconSize: L.point(size, size),
  });
}

function latLng(feature) {
  const [lon, lat] = feature.geometry.coordinates;
  return [lat, lon];
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Minutes to the deadline; once the crew has arrived the clock stops at arrival.
function minutesLeft(props) {
  if (!props.deadline) return null;
  const at = props.arrived_at ? Date.parse(props.arrived_at) : Date.now();
  return (Date.parse(props.deadline) - at) / 60000;
}

// Deadline minus planned arrival: below zero the job is projected late (before arrival).
function slackMin(p) {
  if (!p.deadline || !p.eta || p.arrived_at) return null;
  return (Date.parse(p.deadline) - Date.parse(p.eta)) / 60000;
}

function jobUrgency(p) {
  const left = minutesLeft(p);
  if (p.arrived_at) return left !== null && left < 0 ? "late" : "green";
  return urgency(left, slackMin(p));
}

function urgency(left, slack) {
  if (left === null) return "green";
  if (left < 0) return "late";
  if (slack !== null && slack < 0) return "projected_late";
  if (left < RED_MIN) return "red";
  if (left < AMBER_MIN) return "amber";
  return "green";
}

function makeLayer(feature) {
  const p = feature.properties;
  if (!feature.geometry) return null;
  switch (p.layer) {
    case "area":
      return L.geoJSON(feature, {
        style: {
          color: p.kind === "urban" ? "#5b7083" : "#9aa5b1",
          weight: 1,
          fillColor: p.kind === "urban" ? "#dfe6ee" : "#e8eedf",
          fillOpacity: 0.6,
          interactive: false,
        },
      });
    case "section":
      return L.geoJSON(feature, {
        style: { color: p.line_type === "cable" ? "#8a6d3b" : "#495057", weight: 2, dashArray: p.line_type === "cable" ? "4 3" : null },
      }).bindTooltip(`${p.id} (${p.line_type})`);
    case "substation":
      return L.marker(latLng(feature), {
        icon: L.divIcon({ className: "substation-icon", iconSize: [12, 12] }),
      }).bindTooltip(p.name);
    case "incident":
      return incidentLayer(feature);
    case "trail":
      return L.geoJSON(feature, { style: { color: "#3b5bdb", weight: 2, opacity: 0.5 } });
    case "job": {
      const left = minutesLeft(p);
      return L.circleMarker(latLng(feature), {
        renderer: canvas,
        radius: p.kind === "fault_repair" ? 7 : 5,
        color: "#fff",
        weight: 1,
        fillColor: URGENCY_COLOURS[jobUrgency(p)],
        fillOpacity: 0.95,
      })
        .bindTooltip(`${escapeHtml(p.number)} · ${escapeHtml(kindText(p.kind))} · ${escapeHtml(formatLeft(left, p))}`)
        .on("click", () => selectJob(p.id));
    }
    case "crew": {
      const stale = staleText(p);
      return L.marker(latLng(feature), {
        icon: L.divIcon({
          className: `crew-icon ${p.state}${stale ? " stale" : ""}`,
          html: p.id.slice(-2),
          iconSize: [24, 24],
        }),
        zIndexOffset: 1000,
        title: `${p.name} (${stateText(p.state)})`,
      })
        .bindTooltip(
          escapeHtml(
            `${p.name} · ${stateText(p.state)} · ${skills(p.skills)} · ` +
              T("map.jobs_n", { n: p.active_jobs }) +
              (stale ? ` · ${stale}` : "")
          )
        )
        .on("click", () => selectCrew(p.id));
    }
    case "alarm":
      return L.circleMarker(latLng(feature), {
        radius: 4,
        color: "#e8590c",
        weight: 1,
        fillOpacity: 0.8,
      }).bindTooltip(`${p.device_id} ${p.event_name}`);
    case "meter_off":
      return L.circleMarker(latLng(feature), {
        radius: 3,
        color: "#7048e8",
        weight: 1,
        fillOpacity: 0.7,
      });
    default:
      return null;
  }
}

function incidentLayer(feature) {
  const p = feature.properties;
  const group = L.featureGroup();
  L.geoJSON(feature, {
    style: { color: "#d33", weight: 8, opacity: 0.75 },
    pointToLayer: (_f, ll) => L.circleMarker(ll, { radius: 12, color: "#d33" }),
  }).addTo(group);
  if (p.marker) {
    L.marker([p.marker[1], p.marker[0]], {
      icon: L.divIcon({ className: "incident-icon", html: "⚡", iconSize: [18, 18] }),
      zIndexOffset: 500,
    }).addTo(group);
  }
  group.bindTooltip(
    escapeHtml(
      T("map.incident", {
        id: p.id,
        scope: p.scope,
        where: p.section_id || p.transformer_id || "",
        meters: p.meters_affected,
        customers: p.customers_affected,
      })
    )
  );
  return group;
}

function formatLeft(left, props) {
  if (props && props.arrived_at) return T(left !== null && left < 0 ? "map.arrived_late" : "map.arrived");
  if (left === null) return T("map.no_deadline");
  if (left < 0) return T("map.late_min", { n: Math.round(-left) });
  const slack = props ? slackMin(props) : null;
  if (slack !== null && slack < 0) return T("map.projected_late", { n: Math.round(-slack) });
  if (left < 120) return T("map.min_left", { n: Math.round(left) });
  return T("map.h_left", { n: (left / 60).toFixed(1) });
}

const stateText = (state) => T(`map.state_${state}`);
const statusText = (status) => T(`map.status_${status}`);
const kindText = (kind) => T(`map.kind_${kind}`);

// A crew whose last fix is STALE_FIX_MIN old: its position and ETAs may be wrong.
function staleText(p) {
  if (!p.last_fix_at) return T("map.no_fix");
  const age = (Date.now() - Date.parse(p.last_fix_at)) / 60000;
  return age >= STALE_FIX_MIN ? T("map.stale_fix", { n: Math.round(age) }) : "";
}

// ------------------------------------------------------------------ the store
function upsert(feature) {
  remove(feature.id);
  state.features.set(feature.id, feature);
  const layer = makeLayer(feature);
  if (layer) {
    groups[feature.properties.layer].addLayer(layer);
    state.layers.set(feature.id, layer);
  }
}

function remove(id) {
  const old = state.layers.get(id);
  if (old) groups[state.features.get(id).properties.layer].removeLayer(old);
  state.layers.delete(id);
  state.features.delete(id);
}

function replaceLayer(layerName, features) {
  for (const [id, f] of state.features) {
    if (f.properties.layer === layerName) {
      state.features.delete(id);
      state.layers.delete(id);
    }
  }
  groups[layerName].clearLayers();
  const layers = [];
  for (const f of features) {
    state.features.set(f.id, f);
    const layer = makeLayer(f);
    if (layer) {
      state.layers.set(f.id, layer);
      layers.push(layer);
    }
  }
  if (groups[layerName].addLayers) groups[layerName].addLayers(layers);
  else layers.forEach((l) => groups[layerName].addLayer(l));
}

function featuresOf(layerName) {
  return [...state.features.values()].filter((f) => f.properties.layer === layerName);
}

// ------------------------------------------------------------------ board and stream
async function loadBoard() {
  const started = performance.now();
  const board = await api("/v1/board");
  const fetched = performance.now();
  const byLayer = {};
  for (const f of board.features) (byLayer[f.properties.layer] ||= []).push(f);
  for (const name of Object.keys(groups)) replaceLayer(name, byLayer[name] || []);
  if (!state.connectedOnce) fitTerritory();
  setKpi(board.kpi);
  renderQueue();
  await nextFrame();
  state.stats.boardRenderMs = Math.round(performance.now() - fetched);
  state.stats.boardFetchMs = Math.round(fetched - started);
  state.stats.features = board.features.length;
  document.body.dataset.boardReady = "1";
}

function nextFrame() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

function connectStream() {
  if (state.source) state.source.close();
  const source = new EventSource(`/v1/board/stream?access_token=${encodeURIComponent(state.token)}`);
  state.source = source;
  source.addEventListener("hello", async () => {
    setStatus("live", T("map.status_live"));
    await loadBoard(); // listening now: the board read after this misses nothing
    state.connectedOnce = true;
  });
  source.addEventListener("change", (e) => applyChange(JSON.parse(e.data)));
  source.onerror = () => {
    setStatus(
      "off",
      T(source.readyState === EventSource.CLOSED ? "map.status_disconnected" : "map.status_reconnecting")
    );
    if (source.readyState === EventSource.CLOSED) setTimeout(refresh, 2000);
  };
}

function applyChange(change) {
  const started = performance.now();
  for (const id of change.remove) remove(id);
  for (const f of change.upsert) upsert(f);
  for (const [name, features] of Object.entries(change.replace || {})) replaceLayer(name, features);
  setKpi(change.kpi);
  renderQueue();
  if (state.selected !== null) {
    const job = state.features.get(`job:${state.selected}`);
    const touched = change.upsert.some((f) => f.id === `job:${state.selected}`);
    if (job) showJob(job, touched);
  }
  state.stats.changes += 1;
  state.stats.lastChangeAt = Date.now();
  state.stats.renders.push(Math.round(performance.now() - started));
}

function setStatus(cls, text) {
  const el = document.getElementById("live-status");
  el.className = `status ${cls}`;
  el.textContent = text;
}

function percent(share) {
  return share === null || share === undefined ? "–" : `${Math.round(share * 100)} %`;
}

function setKpi(kpi) {
  state.kpi = kpi;
  document.getElementById("kpi-urban").textContent = percent(kpi.on_time_urban);
  document.getElementById("kpi-rural").textContent = percent(kpi.on_time_rural);
  document.getElementById("kpi-open").textContent = kpi.open_jobs;
  document.getElementById("kpi-busy").textContent = kpi.busy;
  document.getElementById("kpi-free").textContent = kpi.free;
  document.getElementById("kpi-incidents").textContent = featuresOf("incident").length;
}

// ------------------------------------------------------------------ side panel
// Why the plan gave a job to its crew, in words: the term that decided (dispatch.rules
// deciding_term), the distance, when to leave for an appointment, a stale position.
function explanationText(explanation) {
  if (!explanation || !Object.keys(explanation).length) return "";
  if (typeof explanation === "string") return explanation;
  const ex = explanation, parts = [];
  if (ex.decided_by) parts.push(T("map.decided_by." + ex.decided_by));
  if (ex.distance_km != null) parts.push(T("map.explain.distance", { km: ex.distance_km }));
  if (ex.waits_for_window && ex.leave_at)
    parts.push(T("map.explain.leave_at", { time: formatTime(ex.leave_at) }));
  if (ex.position_stale)
    parts.push(T("map.explain.position_stale", { min: Math.round(ex.position_age_min || 0) }));
  return parts.join(" · ");
}

function formatTime(iso) {
  return iso ? GC.i18n.time(iso) : "–";
}

let queueFrame = null;
function renderQueue() {
  if (queueFrame) return;
  queueFrame = requestAnimationFrame(() => {
    queueFrame = null;
    const jobs = featuresOf("job").map((f) => ({ p: f.properties, left: minutesLeft(f.properties) }));
    jobs.sort((a, b) => (a.left ?? Infinity) - (b.left ?? Infinity) || a.p.id - b.p.id);
    document.getElementById("queue-count").textContent = `(${jobs.length})`;
    document.getElementById("queue").innerHTML = jobs
      .map(({ p, left }) => {
        const pin = p.pinned_crew_id ? `<span class="pin-badge">PIN ${escapeHtml(p.pinned_crew_id)}</span>` : "";
        const crew = p.crew_id
          ? escapeHtml(T("map.crew_eta", { crew: p.crew_id, time: formatTime(p.eta) }))
          : escapeHtml(T("map.unassigned"));
        const why = explanationText(p.explanation);
        return (
          `<li data-job-id="${p.id}" class="${jobUrgency(p)}${state.selected === p.id ? " selected" : ""}">` +
          `<div class="row1"><span>${escapeHtml(p.number)}${pin}</span><span>${escapeHtml(formatLeft(left, p))}</span></div>` +
          `<div class="meta">${escapeHtml(kindText(p.kind))} · ${escapeHtml(statusText(p.status))} · ${crew}</div>` +
          (p.flags && p.flags.length ? `<div class="flag">${escapeHtml(T("map.no_check_in"))}</div>` : "") +
          `<div class="meta">${escapeHtml(p.address)}</div>` +
          (why ? `<div class="why">${escapeHtml(why)}</div>` : "") +
          `</li>`
        );
      })
      .join("");
  });
}

document.getElementById("queue").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-job-id]");
  if (li) selectJob(Number(li.dataset.jobId));
});

function selectJob(id) {
  const job = state.features.get(`job:${id}`);
  if (!job) return;
  state.selected = id;
  map.setView(latLng(job), Math.max(map.getZoom(), 15));
  showJob(job, true);
  renderQueue();
}

function selectCrew(id) {
  const crew = state.features.get(`crew:${id}`);
  if (!crew || !crew.geometry) return;
  map.setView(latLng(crew), Math.max(map.getZoom(), 14));
  state.selected = null;
  const p = crew.properties;
  const jobs = featuresOf("job").filter((f) => f.properties.crew_id === id);
  jobs.sort((a, b) => (a.properties.sequence ?? 0) - (b.properties.sequence ?? 0));
  document.getElementById("detail").hidden = false;
  document.getElementById("pin-box").hidden = true;
  const stale = staleText(p);
  document.getElementById("detail-title").textContent = `${p.name} · ${stateText(p.state)}`;
  document.getElementById("detail-body").innerHTML =
    `<div>${escapeHtml(T("map.skills_fix", { skills: skills(p.skills), time: formatTime(p.last_fix_at) }))}</div>` +
    (stale ? `<div class="flag">${escapeHtml(stale)}</div>` : "");
  document.getElementById("timeline").innerHTML = jobs.length
    ? jobs
        .map((f) => `<li><time>${formatTime(f.properties.eta)}</time>${escapeHtml(f.properties.number)} ${escapeHtml(statusText(f.properties.status))}</li>`)
        .join("")
    : `<li>${escapeHtml(T("map.no_jobs"))}</li>`;
}

async function showJob(job, reloadTimeline) {
  const p = job.properties;
  document.getElementById("detail").hidden = false;
  document.getElementById("pin-box").hidden = false;
  const slack = slackMin(p);
  const ex = p.explanation || {};
  document.getElementById("detail-title").textContent = `${p.number} · ${kindText(p.kind)}`;
  document.getElementById("detail-body").innerHTML =
    `<div class="${jobUrgency(p)}-text">${escapeHtml(statusText(p.status))} · ${escapeHtml(T("map.priority", { n: p.priority }))} · ${escapeHtml(formatLeft(minutesLeft(p), p))}</div>` +
    (p.deadline
      ? `<div id="detail-deadline">${escapeHtml(
          T("map.deadline_slack", {
            deadline: formatTime(p.deadline),
            slack: slack === null ? "–" : Math.round(slack),
          })
        )}</div>`
      : "") +
    (p.window_start
      ? `<div>${escapeHtml(T("map.window", { start: formatTime(p.window_start), end: formatTime(p.window_end) }))}</div>`
      : "") +
    (p.flags && p.flags.length ? `<div class="flag">${escapeHtml(T("map.no_check_in"))}</div>` : "") +
    `<div>${escapeHtml(p.address)}</div><div>${escapeHtml(T("map.needs", { skills: skills(p.required_skills) || T("map.no_skill") }))}</div>` +
    `<div>${escapeHtml(T("map.detail_crew", { crew: p.crew_id || T("map.crew_none"), time: formatTime(p.eta) }))}` +
    (p.pinned_crew_id
      ? ` · <span class="pin-badge" id="detail-pin">${escapeHtml(T("map.pinned_to", { crew: p.pinned_crew_id }))}</span>`
      : "") +
    `</div>` +
    (ex.next_best_crew
      ? `<div id="detail-next-best">${escapeHtml(T("map.next_best", { crew: ex.next_best_crew, time: formatTime(ex.next_best_eta) }))}</div>`
      : "") +
    `<div class="why">${escapeHtml(explanationText(p.explanation))}</div>`;
  const select = document.getElementById("pin-crew");
  const current = select.value;
  const crews = featuresOf("crew")
    .map((f) => f.properties)
    .filter((c) => p.required_skills.every((s) => c.skills.includes(s)));
  select.innerHTML = crews
    .map((c) => `<option value="${escapeHtml(c.id)}">${escapeHtml(c.name)} (${escapeHtml(stateText(c.state))})</option>`)
    .join("");
  if (crews.some((c) => c.id === current)) select.value = current;
  document.getElementById("unpin-button").disabled = !p.pinned_crew_id;
  if (!reloadTimeline) return;
  document.getElementById("pin-error").textContent = "";
  const timeline = await api(`/v1/board/jobs/${p.id}/timeline`);
  if (state.selected !== p.id) return;
  document.getElementById("timeline").innerHTML = timeline.events
    .map((e) => {
      const eta = e.eta ? ` · ETA ${formatTime(e.eta)}` : "";
      return `<li class="${e.kind}"><time>${formatTime(e.time)}</time>${escapeHtml(e.text)}${eta}</li>`;
    })
    .join("");
}

async function pinSelected() {
  const errorBox = document.getElementById("pin-error");
  errorBox.textContent = "";
  try {
    await api("/v1/board/pins", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ work_order_id: state.selected, crew_id: document.getElementById("pin-crew").value }),
    });
  } catch (err) {
    errorBox.textContent = err.message;
    return;
  }
  refreshTimeline();
}

async function unpinSelected() {
  const errorBox = document.getElementById("pin-error");
  errorBox.textContent = "";
  try {
    await api(`/v1/board/pins/${state.selected}`, { method: "DELETE" });
  } catch (err) {
    errorBox.textContent = err.message;
    return;
  }
  refreshTimeline();
}

function refreshTimeline() {
  const job = state.features.get(`job:${state.selected}`);
  if (job) showJob(job, true);
}

document.getElementById("pin-button").addEventListener("click", pinSelected);
document.getElementById("unpin-button").addEventListener("click", unpinSelected);
document.getElementById("detail-close").addEventListener("click", () => {
  document.getElementById("detail").hidden = true;
  state.selected = null;
  renderQueue();
});

// Time left moves on by itself: recolour jobs and re-judge stale fixes each 30 s (no request).
setInterval(() => {
  for (const f of featuresOf("job")) {
    const layer = state.layers.get(f.id);
    if (layer) layer.setStyle({ fillColor: URGENCY_COLOURS[jobUrgency(f.properties)] });
  }
  for (const f of featuresOf("crew")) upsert(f);
  renderQueue();
}, 30000);

// ------------------------------------------------------------------ start
GC.i18n.ready.then(addControls);
// The switch persists the language on this device; the page is drawn again in it.
document.getElementById("language-button").addEventListener("click", async () => {
  await GC.i18n.setLanguage(GC.i18n.lang === "en" ? "zh-CN" : "en");
  location.reload();
});

document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const errorBox = document.getElementById("login-error");
  errorBox.textContent = "";
  try {
    await login(document.getElementById("username").value, document.getElementById("password").value);
  } catch (err) {
    errorBox.textContent = err.message;
    return;
  }
  document.getElementById("login").hidden = true;
  await start();
});

async function start() {
  await GC.i18n.ready;
  const config = await fetch("/map/config.json").then((r) => r.json());
  if (config.tile_url && !state.tiles) {
    state.tiles = L.tileLayer(config.tile_url, { maxZoom: 19 }).addTo(map);
  }
  connectStream();
}
