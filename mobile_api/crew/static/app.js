// The crew app: screens, the crew's actions into the outbox, the live plan.
// Every action the crew takes goes to the outbox first (outbox.js) and is shown at
// once as the outbox will leave it; the server's answers settle it.
import * as api from "./api.js";
import * as live from "./live.js";
import * as outbox from "./outbox.js";
import { draw as drawMap, distanceM } from "./minimap.js";
import { pad as signaturePad } from "./signature.js";
import * as view from "./view.js";

const { h } = view;
const t = (key, params) => window.GC.i18n.t(key, params);
const time = (iso) => window.GC.i18n.time(iso);
const $ = (id) => document.getElementById(id);
const FLUSH_EVERY_MS = 20_000;
const RATINGS = ["attitude", "professional_skill", "response_speed", "process_standard"];

const state = {
  session: null,
  config: null,
  serverJobs: [],
  jobs: [],
  details: new Map(), // job id -> GET /v1/jobs/{id} (check-ins, photos)
  queue: [],
  outcomes: [],
  knownIds: null, // job ids seen so far (a new urgent one is announced)
  fresh: new Set(), // jobs new since the app opened, outlined until opened
  stage: "survey",
  fix: null,
  progress: new Map(), // outbox seq -> upload fraction
  live: "down",
  listUpdatedAt: null,
  ratings: {},
  signedOff: new Set(), // jobs whose sign-off the server accepted
  urgentJob: null,
};
window.gridcrewCrew = { state, outbox };
let pen = null;
let follower = null;
let timers = [];

// ---------- start ----------

async function loadConfig() {
  try {
    const r = await fetch("/crew/config.json");
    if (!r.ok) throw new Error(String(r.status));
    state.config = await r.json();
    await outbox.cachePut("config", state.config);
  } catch {
    state.config = await outbox.cacheGet("config");
  }
}

async function main() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/crew/sw.js", { scope: "/crew/" }).catch(() => {});
  }
  try { await window.GC.i18n.ready; } catch { /* keys show until the catalogue loads */ }
  await loadConfig();
  wire();
  document.addEventListener("gc-language", () => render());
  if (api.signedIn()) await start();
  else show("login-view");
  document.body.dataset.ready = "1";
}

async function start() {
  state.session = api.session();
  const cached = await outbox.cacheGet("jobs:" + state.session.username);
  if (cached) {
    state.serverJobs = cached.jobs;
    state.listUpdatedAt = cached.at;
  }
  for (const [id, d] of Object.entries((await outbox.cacheGet("details:" + state.session.username)) || {})) {
    state.details.set(Number(id), d);
  }
  state.knownIds = cached ? new Set(state.serverJobs.map((j) => j.id)) : null;
  await refreshQueue();
  route();
  refreshJobs();
  follower = live.follow({
    onPlan: (jobs) => setServerJobs(jobs),
    onState: (s) => { state.live = s; renderBar(); },
    onSignedOut: signedOut,
  });
  window.addEventListener("online", send);
  timers.push(setInterval(send, FLUSH_EVERY_MS));
  send();
}

function stop() {
  if (follower) follower.stop();
  follower = null;
  window.removeEventListener("online", send);
  for (const id of timers) clearInterval(id);
  timers = [];
  tracker.stop();
}

function signedOut() {
  stop();
  api.signOut();
  state.session = null;
  notice(t("crew.signed_out"));
  show("login-view");
}

// ---------- data ----------

async function refreshQueue() {
  state.queue = await outbox.pending(state.session.username);
  state.outcomes = await outbox.outcomes(state.session.username);
  state.jobs = view.withPending(state.serverJobs, state.queue, state.config.moves);
  tracker.update(state.jobs);
}

async function setServerJobs(jobs) {
  const fresh = state.knownIds ? jobs.filter((j) => !state.knownIds.has(j.id)) : [];
  state.knownIds = new Set([...(state.knownIds || []), ...jobs.map((j) => j.id)]);
  state.serverJobs = jobs;
  state.listUpdatedAt = new Date().toISOString();
  await outbox.cachePut("jobs:" + state.session.username, { jobs, at: state.listUpdatedAt });
  await refreshQueue();
  const urgent = fresh.find(view.isUrgent);
  if (urgent) announce(urgent);
  for (const j of fresh) state.fresh.add(j.id);
  render();
}

async function refreshJobs() {
  try {
    setServerJobs(await api.json("/v1/jobs"));
  } catch (e) {
    if (e instanceof api.SignedOut) signedOut();
  }
}

async function refreshDetail(id) {
  try {
    const detail = await api.json(`/v1/jobs/${id}`);
    state.details.set(id, detail);
    await outbox.cachePut("details:" + state.session.username, Object.fromEntries(state.details));
    render();
  } catch {
    /* offline, or no longer ours: keep what we had */
  }
}

async function send() {
  if (!state.session) return;
  await outbox.flush(state.session.username, (record, fraction) => {
    state.progress.set(record.seq, fraction);
    renderPhotos();
  });
}

async function act(action) {
  await outbox.enqueue(state.session.username, action);
  await refreshQueue();
  render();
  send();
}

outbox.onChange(async ({ settled }) => {
  if (!state.session) return;
  await refreshQueue();
  if (settled) {
    if (settled.refused) {
      notice(view.outcomeText(settled));
      if (["job_reassigned", "not_your_job", "job_not_found"].includes(settled.body && settled.body.code)) {
        state.serverJobs = state.serverJobs.filter((j) => j.id !== settled.job_id);
        await refreshQueue();
        if (currentJobId() === settled.job_id) location.hash = "#/jobs";
      }
    }
    if (settled.type === "status" && !settled.refused && settled.body && settled.body.id) {
      // the job as the server now has it, until the next list arrives
      state.serverJobs = state.serverJobs.map((j) => (j.id === settled.body.id ? { ...j, ...settled.body } : j));
      await refreshQueue();
    }
    if (settled.type === "signoff" && !settled.refused) state.signedOff.add(settled.job_id);
    if (settled.type !== "position") {
      refreshJobs();
      if (settled.job_id) refreshDetail(settled.job_id);
    }
  }
  render();
});

// ---------- positions while en route ----------

const tracker = {
  watch: null,
  timer: null,
  last: null,
  sentAt: 0,
  async interval() {
    // battery-aware: every 15 s on the charger, 30 s with a good battery, less when low
    try {
      const b = navigator.getBattery ? await navigator.getBattery() : null;
      if (!b || b.charging) return b ? 15_000 : 30_000;
      return b.level > 0.5 ? 30_000 : b.level > 0.2 ? 60_000 : 120_000;
    } catch {
      return 30_000;
    }
  },
  update(jobs) {
    const enRoute = jobs.some((j) => j.status === "en_route");
    if (enRoute && this.watch === null && navigator.geolocation) {
      this.watch = navigator.geolocation.watchPosition(
        (p) => { this.last = p; state.fix = fixOf(p); this.tick(); },
        () => {},
        { enableHighAccuracy: true, maximumAge: 10_000 },
      );
    } else if (!enRoute) {
      this.stop();
    }
  },
  async tick() {
    const p = this.last;
    if (!p || !state.session || Date.now() - this.sentAt < (await this.interval())) return;
    this.sentAt = Date.now();
    const c = p.coords;
    await outbox.enqueue(state.session.username, {
      type: "position",
      job_id: null,
      body: {
        lon: c.longitude, lat: c.latitude, accuracy_m: c.accuracy,
        time: new Date(p.timestamp).toISOString(),
        speed_mps: c.speed === null || c.speed < 0 ? null : Math.min(c.speed, 200),
        heading_deg: c.heading === null || Number.isNaN(c.heading) ? null : c.heading,
      },
    });
    send();
  },
  stop() {
    if (this.watch !== null) navigator.geolocation.clearWatch(this.watch);
    this.watch = null;
  },
};

function fixOf(p) {
  return { lon: p.coords.longitude, lat: p.coords.latitude, accuracy_m: p.coords.accuracy, at: p.timestamp };
}

// ---------- screens ----------

function show(id) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== id;
  renderBar();
}

function currentJobId() {
  const m = location.hash.match(/^#\/(job|signoff)\/(\d+)/);
  return m ? Number(m[2]) : null;
}

function findJob(id) {
  return state.jobs.find((j) => j.id === id) || null;
}

function route() {
  if (!state.session) return show("login-view");
  const hash = location.hash || "#/jobs";
  if (hash.startsWith("#/job/")) {
    show("job-view");
    const id = currentJobId();
    state.fresh.delete(id);
    if (!state.details.has(id)) refreshDetail(id);
  } else if (hash.startsWith("#/signoff/")) {
    show("signoff-view");
    resetSignoff();
  } else if (hash === "#/outbox") {
    show("outbox-view");
  } else {
    show("list-view");
  }
  render();
  window.scrollTo(0, 0);
}

function render() {
  renderBar();
  if (!state.session) return;
  if (!$("list-view").hidden) renderList();
  if (!$("job-view").hidden) renderJob();
  if (!$("signoff-view").hidden) renderSignoffHead();
  if (!$("outbox-view").hidden) renderOutbox();
}

function renderBar() {
  $("bar-title").textContent = state.session ? state.session.crew : t("common.app_name");
  const online = navigator.onLine;
  $("net").textContent = online ? t("common.online") : t("common.offline");
  $("net").className = "net " + (online ? "online" : "offline");
  $("net").dataset.live = state.live;
  const n = state.queue.length;
  $("outbox-button").hidden = !state.session;
  $("outbox-button").textContent = n ? t("crew.waiting", { n }) : t("crew.all_sent");
  $("outbox-button").dataset.count = String(n);
}

function jobCard(job) {
  const deadline = view.deadlineText(job);
  const tags = [h("span", { class: "tag" }, t("crew.status." + job.status))];
  if (view.isUrgent(job)) tags.unshift(h("span", { class: "tag urgent" }, t("crew.urgent")));
  if (job.pending.length) tags.push(h("span", { class: "tag pending" }, t("crew.pending")));
  const phone = job.customer && job.customer.phone;
  return h(
    "li",
    { class: view.urgency(job) + (state.fresh.has(job.id) ? " fresh" : ""), dataset: { jobId: job.id, status: job.status } },
    h("div", { class: "line1" },
      h("span", {}, h("span", { class: "seq" }, job.sequence ?? "–"), t("crew.kind." + job.kind)),
      h("span", { class: "deadline" }, deadline)),
    h("div", {}, ...tags, h("span", { class: "meta" }, t("crew.priority", { n: job.priority }))),
    job.window_start ? h("div", { class: "meta" }, t("crew.window", { start: time(job.window_start), end: time(job.window_end) })) : null,
    h("div", { class: "meta" }, job.eta ? t("crew.eta", { time: time(job.eta) }) : t("crew.no_eta"),
      view.deadlineOf(job) ? " · " + t("crew.deadline_at", { time: time(view.deadlineOf(job)) }) : ""),
    h("div", {}, job.address),
    job.customer ? h("div", {}, job.customer.name + " ",
      phone ? h("a", { class: "tel", href: "tel:" + phone.replace(/[^+\d]/g, "") }, t("crew.call", { phone })) : null) : null,
    h("div", { class: "meta" }, view.skillsText(job)),
    h("div", { class: "why" }, view.explanationText(job.explanation)),
  );
}

function renderList() {
  const s = state.session;
  $("crew-line").textContent = s.username;
  $("jobs").replaceChildren(...state.jobs.map(jobCard));
  $("no-jobs").hidden = state.jobs.length > 0;
  $("list-updated").textContent = state.listUpdatedAt ? t("crew.list_updated", { time: time(state.listUpdatedAt) }) : "";
}

function lastKnown(id) {
  return findJob(id) || (state.details.has(id) ? { ...state.details.get(id), pending: [], allowed: [] } : null);
}

function renderJob() {
  const id = currentJobId();
  const job = lastKnown(id);
  if (!job) {
    $("job-head").replaceChildren(h("p", { class: "meta" }, t("common.loading")));
    return;
  }
  const card = jobCard(job);
  card.removeAttribute("class");
  $("job-head").replaceChildren(h("ol", { id: "job-card", class: "card" }, card),
    job.description ? h("p", { class: "meta" }, job.description) : "",
    h("p", { id: "job-status", dataset: { status: job.status } }, t("crew.status_label", { status: t("crew.status." + job.status) })));
  const signed = job.status === "signed_off" || state.signedOff.has(id);
  $("status-buttons").replaceChildren(...(signed ? [] : job.allowed).map((s) =>
    h("button", { type: "button", class: s === "declined" || s === "cannot_complete" ? "danger" : "", dataset: { status: s } }, t("crew.do." + s))));
  $("navigate").href = `geo:${job.lat},${job.lon}?q=${job.lat},${job.lon}`;
  $("map-title").textContent = t("crew.map_title", { radius: state.config.checkin_radius_m });
  drawMap($("minimap"), job, state.config.checkin_radius_m, state.fix);
  renderCheckin(job);
  renderPhotos();
  $("signoff-button").hidden = job.status !== "work_done" || job.pending.includes("signoff");
  const waiting = job.pending.includes("signoff");
  $("signoff-state").hidden = !(waiting || state.signedOff.has(id));
  $("signoff-state").className = "result " + (waiting ? "wait" : "ok");
  $("signoff-state").textContent = waiting ? t("crew.signoff_queued") : t("crew.signoff_done");
  $("sheet-button").hidden = !(state.signedOff.has(id) || (job.status === "signed_off" && !waiting));
}

function renderCheckin(job) {
  const box = $("checkin-result");
  const id = job.id;
  const waiting = state.queue.find((r) => r.type === "check_in" && r.job_id === id);
  const done = state.outcomes.find((o) => o.type === "check_in" && o.job_id === id);
  const fix = state.fix;
  let text = "";
  let cls = "";
  if (fix) text = t("crew.fix", { accuracy: Math.round(fix.accuracy_m), distance: Math.round(distanceM(job, fix)) }) + " · ";
  if (waiting) {
    text += t("crew.checkin.queued");
    cls = "wait";
  } else if (done) {
    text += done.refused || !done.body ? view.outcomeText(done) : view.checkInVerdict(done.body);
    cls = !done.refused && done.body && done.body.accepted ? "ok" : "bad";
  } else if (state.locating) {
    text = t("crew.locating");
  } else if (state.gpsError) {
    text = t("crew.no_gps", { message: state.gpsError });
    cls = "bad";
  } else if (!fix) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.className = "result " + cls;
  box.dataset.state = waiting ? "queued" : done ? (done.body && done.body.accepted ? "accepted" : "refused") : "";
  box.textContent = text;
}

function renderPhotos() {
  const id = currentJobId();
  if (!id || $("job-view").hidden) return;
  $("stages").replaceChildren(...(state.config.photo_stages || []).map((s) =>
    h("button", { type: "button", "aria-pressed": String(s === state.stage), dataset: { stage: s } }, t("crew.stage." + s))));
  const items = [];
  for (const r of state.queue.filter((q) => q.type === "photo" && q.job_id === id)) {
    if (!r.url) r.url = URL.createObjectURL(r.blob);
    const fraction = state.progress.get(r.seq);
    items.push(h("li", { dataset: { state: "queued" } }, h("img", { src: r.url, alt: "" }),
      t("crew.stage." + r.stage) + " · " + (fraction === undefined ? t("crew.photo.queued") : t("crew.photo.uploading", { percent: Math.round(fraction * 100) })),
      fraction === undefined ? null : h("progress", { max: "1", value: String(fraction) })));
  }
  const detail = state.details.get(id);
  for (const p of (detail && detail.photos) || []) {
    const img = h("img", { alt: "" });
    if (p.has_thumbnail) thumbnail(id, p.id).then((url) => { img.src = url; });
    items.push(h("li", { dataset: { state: "done", sha256: p.sha256 } }, img,
      t("crew.stage." + p.stage) + " · " + t("crew.photo.done")));
  }
  $("photos").replaceChildren(...items);
}

const thumbs = new Map();
function thumbnail(jobId, photoId) {
  const key = jobId + "/" + photoId;
  if (!thumbs.has(key)) {
    thumbs.set(key, api.call(`/v1/jobs/${jobId}/photos/${photoId}/thumbnail`)
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
      .then((b) => URL.createObjectURL(b))
      .catch(() => { thumbs.delete(key); return ""; }));
  }
  return thumbs.get(key);
}

function renderSignoffHead() {
  const job = lastKnown(currentJobId());
  $("signoff-job").textContent = job ? t("crew.kind." + job.kind) + " · " + job.number + " · " + job.address : "";
  $("ratings").replaceChildren(...RATINGS.map((dim) => h("div", { class: "rating", dataset: { dimension: dim } },
    h("span", {}, t("crew.rating." + dim)),
    ...[1, 2, 3, 4, 5].map((n) => h("button", { type: "button", "aria-pressed": String(state.ratings[dim] === n), dataset: { score: n } }, String(n))))));
}

function resetSignoff() {
  const job = lastKnown(currentJobId());
  state.ratings = {};
  if (pen) pen.clear();
  $("customer-name").value = (job && job.customer && job.customer.name) || "";
  $("work-summary").value = (job && job.description) || "";
  $("comment").value = "";
  $("signoff-error").hidden = true;
}

function renderOutbox() {
  const item = (r, text, refused) => h("li", { class: refused ? "refused" : "", dataset: { type: r.type, key: r.key } },
    h("time", {}, time(r.created_at)), view.actionLabel(r), r.job_id ? " · #" + r.job_id : "", text ? " — " + text : "");
  $("pending").replaceChildren(...state.queue.map((r) => item(r, t("crew.pending"))));
  $("pending-empty").hidden = state.queue.length > 0;
  $("outcomes").replaceChildren(...state.outcomes.filter((o) => o.type !== "position" || o.refused).slice(0, 40)
    .map((o) => item(o, view.outcomeText(o), o.refused)));
}

let noticeTimer = null;
function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { $("notice").hidden = true; }, 15_000);
}

function announce(job) {
  state.urgentJob = job.id;
  $("urgent-body").textContent = t("crew.urgent_body", {
    kind: t("crew.kind." + job.kind), address: job.address, deadline: view.deadlineText(job),
  });
  $("urgent").hidden = false;
  $("urgent").dataset.jobId = String(job.id);
  if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      new Notification(t("crew.urgent_title"), { body: $("urgent-body").textContent, tag: "job-" + job.id });
    } catch { /* some browsers allow notifications only from the service worker */ }
  }
}

// ---------- actions ----------

let reasonFor = null;

function setStatus(status) {
  const id = currentJobId();
  if (state.config.needs_reason.includes(status)) {
    reasonFor = status;
    $("reason-title").textContent = t("crew.do." + status);
    $("reason-box").hidden = false;
    $("reason-text").value = "";
    $("reason-text").focus();
    return;
  }
  act({ type: "status", job_id: id, body: { status, client_time: new Date().toISOString() } });
}

function confirmReason() {
  const reason = $("reason-text").value.trim();
  if (!reason) return $("reason-text").focus();
  $("reason-box").hidden = true;
  act({ type: "status", job_id: currentJobId(), body: { status: reasonFor, client_time: new Date().toISOString(), reason } });
  reasonFor = null;
  location.hash = "#/jobs"; // a declined or abandoned job leaves the list
}

function checkIn() {
  const id = currentJobId();
  if (!navigator.geolocation) return;
  state.locating = true;
  state.gpsError = null;
  render();
  const checked = (p) => {
    state.locating = false;
    state.fix = fixOf(p);
    act({
      type: "check_in",
      job_id: id,
      // the fix's own time: a retried, cached fix says when it was really taken
      body: { lon: p.coords.longitude, lat: p.coords.latitude, accuracy_m: p.coords.accuracy, client_time: new Date(p.timestamp).toISOString() },
    });
  };
  const failed = (e) => { state.locating = false; state.gpsError = e.message; render(); };
  navigator.geolocation.getCurrentPosition(
    checked,
    // no fresh fix in time (under trees, indoors, a busy receiver): take one of the last
    // minute instead, once; the server still checks its accuracy and the geofence
    (e) => e.code === e.TIMEOUT
      ? navigator.geolocation.getCurrentPosition(checked, failed, { enableHighAccuracy: false, timeout: 30_000, maximumAge: 60_000 })
      : failed(e),
    { enableHighAccuracy: true, timeout: 30_000, maximumAge: 0 },
  );
}

async function addPhotos(files) {
  const id = currentJobId();
  for (const file of files) {
    await outbox.enqueue(state.session.username, { type: "photo", job_id: id, stage: state.stage, blob: file, name: file.name });
  }
  $("photo-input").value = "";
  await refreshQueue();
  render();
  send();
}

function submitSignoff() {
  const missing = [];
  if (pen.empty()) missing.push(t("crew.signature"));
  const name = $("customer-name").value.trim();
  const summary = $("work-summary").value.trim();
  if (!name) missing.push(t("crew.customer_name"));
  if (!summary) missing.push(t("crew.work_summary"));
  for (const dim of RATINGS) if (!state.ratings[dim]) missing.push(t("crew.rating." + dim));
  if (missing.length) {
    $("signoff-error").textContent = t("crew.signoff_missing", { fields: missing.join("、") });
    $("signoff-error").hidden = false;
    return;
  }
  const id = currentJobId();
  act({
    type: "signoff",
    job_id: id,
    body: {
      customer_name: name, signed_at: new Date().toISOString(), work_summary: summary,
      strokes: pen.strokes(), ratings: { ...state.ratings }, comment: $("comment").value.trim(),
    },
  });
  location.hash = "#/job/" + id;
}

async function openSheet() {
  const id = currentJobId();
  const r = await api.call(`/v1/jobs/${id}/sheet.pdf`).catch(() => null);
  if (!r || !r.ok) return notice(t("crew.signoff_queued"));
  const link = $("sheet-link");
  link.href = URL.createObjectURL(await r.blob());
  link.download = `service-${id}.pdf`;
  link.dataset.ready = "1";
  link.click();
}

async function login(e) {
  e.preventDefault();
  $("login-error").hidden = true;
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
  try {
    await api.signIn($("username").value.trim(), $("password").value);
  } catch (err) {
    $("login-error").textContent = err.code === "crew_only" ? t("crew.not_crew")
      : err.code === "bad_credentials" ? t("crew.bad_login") : t("common.error", { message: err.message });
    $("login-error").hidden = false;
    return;
  }
  $("password").value = "";
  location.hash = "#/jobs";
  await start();
}

function wire() {
  $("login-form").addEventListener("submit", login);
  $("lang-button").addEventListener("click", () => window.GC.i18n.setLanguage(window.GC.i18n.lang === "en" ? "zh-CN" : "en"));
  $("outbox-button").addEventListener("click", () => { location.hash = "#/outbox"; });
  $("send-now").addEventListener("click", send);
  $("logout-button").addEventListener("click", () => { stop(); api.signOut(); state.session = null; show("login-view"); });
  for (const b of document.querySelectorAll("button.back")) b.addEventListener("click", () => {
    const id = currentJobId();
    location.hash = location.hash.startsWith("#/signoff/") ? "#/job/" + id : "#/jobs";
  });
  $("jobs").addEventListener("click", (e) => {
    const li = e.target.closest("li[data-job-id]");
    if (li && !e.target.closest("a")) location.hash = "#/job/" + li.dataset.jobId;
  });
  $("status-buttons").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-status]");
    if (b) setStatus(b.dataset.status);
  });
  $("reason-ok").addEventListener("click", confirmReason);
  $("reason-cancel").addEventListener("click", () => { $("reason-box").hidden = true; reasonFor = null; });
  $("checkin-button").addEventListener("click", checkIn);
  $("stages").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-stage]");
    if (b) { state.stage = b.dataset.stage; renderPhotos(); }
  });
  $("photo-input").addEventListener("change", (e) => addPhotos([...e.target.files]));
  $("signoff-button").addEventListener("click", () => { location.hash = "#/signoff/" + currentJobId(); });
  $("sheet-button").addEventListener("click", openSheet);
  pen = signaturePad($("pad"));
  $("pad-clear").addEventListener("click", () => pen.clear());
  $("ratings").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-score]");
    if (!b) return;
    state.ratings[b.closest(".rating").dataset.dimension] = Number(b.dataset.score);
    renderSignoffHead();
  });
  $("signoff-submit").addEventListener("click", submitSignoff);
  $("urgent-open").addEventListener("click", () => { $("urgent").hidden = true; location.hash = "#/job/" + state.urgentJob; });
  $("urgent-dismiss").addEventListener("click", () => { $("urgent").hidden = true; });
  window.addEventListener("hashchange", route);
  window.addEventListener("online", () => {
    renderBar();
    if ($("notice").textContent === t("crew.offline_since")) $("notice").hidden = true;
  });
  window.addEventListener("offline", () => { renderBar(); if (state.session) notice(t("crew.offline_since")); });
}

main();
