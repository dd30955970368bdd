// What the crew reads, worked out from data: the job list as the outbox will leave
// it, deadlines, the dispatcher's reasons, each action's label and each refusal in
// words. No requests, no IndexedDB, no page state here.
const t = (key, params) => window.GC.i18n.t(key, params);
const time = (iso) => window.GC.i18n.time(iso);

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

export function duration(minutes) {
  const m = Math.round(Math.abs(minutes));
  if (m < 60) return t("crew.minutes", { n: m });
  return t("crew.hours_minutes", { h: Math.floor(m / 60), m: m % 60 });
}

export function deadlineOf(job) {
  return job.arrival_deadline || job.due_at || null;
}

// green / amber / red / late by the minutes left to the deadline.
export function urgency(job, now = Date.now()) {
  const deadline = deadlineOf(job);
  if (!deadline) return "none";
  const left = (Date.parse(deadline) - now) / 60000;
  if (left < 0) return "late";
  if (left < 15) return "red";
  if (left < 45) return "amber";
  return "green";
}

export function deadlineText(job, now = Date.now()) {
  const deadline = deadlineOf(job);
  if (!deadline) return "";
  const left = (Date.parse(deadline) - now) / 60000;
  return left < 0 ? t("crew.deadline_late", { late: duration(left) })
    : t("crew.deadline_left", { left: duration(left) });
}

export function isUrgent(job) {
  return job.kind === "fault_repair" || job.priority <= 1;
}

export function skillsText(job) {
  const names = (job.required_skills || []).map((s) => t("crew.skill." + s));
  return t("crew.skill", { skills: names.join("、") || t("common.none") });
}

export function explanationText(e) {
  if (!e || typeof e !== "object") return "";
  let reason = t("crew.why.best");
  if (e.reason === "pinned by a dispatcher") reason = t("crew.why.pinned");
  else if (typeof e.reason === "string" && e.reason.startsWith("already")) reason = t("crew.why.already");
  const parts = [reason];
  if (typeof e.distance_km === "number") parts.push(t("crew.why.distance", { km: e.distance_km }));
  if (typeof e.slack_min === "number") parts.push(t("crew.why.slack", { min: Math.round(e.slack_min) }));
  if (e.next_best_crew) parts.push(t("crew.why.next_best", { crew: e.next_best_crew, time: time(e.next_best_eta) }));
  return t("crew.why", { reason: parts.join(" · ") });
}

// The job list after the actions still in the outbox: statuses move as the crew
// set them, a job the crew declined or gave up leaves the list, a sign-off waiting
// to be sent shows the job as signed.
export function withPending(jobs, queue, moves) {
  const byId = new Map(jobs.map((j) => [j.id, { ...j, pending: [] }]));
  for (const r of queue) {
    const job = byId.get(r.job_id);
    if (!job) continue;
    job.pending.push(r.type);
    if (r.type === "status") {
      if ((moves[job.status] || []).includes(r.body.status)) job.status = r.body.status;
      if (job.status === "declined" || job.status === "cannot_complete") byId.delete(r.job_id);
    } else if (r.type === "signoff" && job.status === "work_done") {
      job.status = "signed_off";
    }
  }
  for (const job of byId.values()) job.allowed = moves[job.status] || [];
  return [...byId.values()];
}

export function actionLabel(r) {
  const status = r.action_status || (r.body && r.body.status);
  if (r.type === "status") return t("crew.action.status", { status: t("crew.status." + status) });
  if (r.type === "photo") return t("crew.action.photo", { stage: t("crew.stage." + r.stage) });
  return t("crew.action." + r.type);
}

// A refusal in words, with what to do.
export function refusalText(body) {
  const code = (body && body.code) || "";
  const key = "crew.refusal." + code;
  const text = t(key, {
    current: t("crew.status." + (body && body.current)),
    requested: t("crew.status." + (body && body.requested)),
    detail: (body && body.detail) || "",
  });
  return text === key ? t("crew.refusal.other", { detail: (body && (body.detail || body.title)) || code }) : text;
}

// The server's verdict on a check-in.
export function checkInVerdict(result) {
  return t("crew.checkin." + (result.accepted ? "accepted" : result.flag || "outside_geofence"));
}

// What an accepted action came to (a check-in's verdict, a photo's flags).
export function outcomeText(o) {
  if (o.refused) return t("crew.refused", { why: refusalText(o.body) });
  if (o.type === "check_in" && o.body) {
    return checkInVerdict(o.body) + " · " + Math.round(o.body.distance_m) + " m";
  }
  if (o.type === "photo" && o.body && o.body.flags && o.body.flags.length) {
    return t("crew.photo.done") + " · " + o.body.flags.map((f) => t("crew.photo.flag." + f)).join("、");
  }
  return t(o.replayed ? "crew.outcome.replayed" : "crew.outcome.ok");
}
