// The outbox: every action of the crew is first written to IndexedDB with its own
// Idempotency-Key and the terminal's time, then sent in order: runs of statuses,
// check-ins, positions and sign-offs as one POST /v1/sync, photos one by one to
// their endpoint with their key. An action leaves the outbox only with an answer
// from the server (accepted or refused); a lost answer means it is sent again under
// the same key, and the server replays its first answer instead of storing twice.
// Also keeps the last job list and the outcomes the crew is shown.
import { openDB } from "./vendor/idb/index.js";
import { accessToken, call, Offline, refreshToken, SignedOut } from "./api.js";

const BATCH = 200;
const OUTCOMES_KEPT = 100;

const db = openDB("gridcrew-crew", 1, {
  upgrade(d) {
    d.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
    d.createObjectStore("outcomes", { keyPath: "seq", autoIncrement: true });
    d.createObjectStore("cache");
  },
});

const listeners = new Set();
export function onChange(fn) {
  listeners.add(fn);
}
function changed(detail) {
  for (const fn of listeners) fn(detail);
}

export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Queue one action of *user*: {type, job_id, body} or, for a photo, {type: "photo",
// job_id, stage, blob, name}. Returns the stored record (with seq and key).
export async function enqueue(user, action) {
  const record = { ...action, user, key: newKey(), created_at: new Date().toISOString() };
  record.seq = await (await db).add("outbox", record);
  changed({ queued: record });
  return record;
}

export async function pending(user) {
  return (await (await db).getAll("outbox")).filter((r) => r.user === user);
}

export async function outcomes(user) {
  return (await (await db).getAll("outcomes")).filter((r) => r.user === user).reverse();
}

export async function cacheGet(name) {
  return (await db).get("cache", name);
}

export async function cachePut(name, value) {
  return (await db).put("cache", value, name);
}

async function settle(record, status, body, replayed) {
  const d = await db;
  const tx = d.transaction(["outbox", "outcomes"], "readwrite");
  tx.objectStore("outbox").delete(record.seq);
  const outcome = {
    user: record.user, key: record.key, type: record.type, job_id: record.job_id,
    stage: record.stage, action_status: record.body && record.body.status,
    created_at: record.created_at, settled_at: new Date().toISOString(),
    status, body, replayed: !!replayed, refused: status >= 400,
  };
  outcome.seq = await tx.objectStore("outcomes").add(outcome);
  await tx.done;
  const keys = await d.getAllKeys("outcomes");
  for (const old of keys.slice(0, Math.max(0, keys.length - OUTCOMES_KEPT))) await d.delete("outcomes", old);
  changed({ settled: outcome });
  return outcome;
}

function photoUpload(record, onProgress, token) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/jobs/${record.job_id}/photos`);
    xhr.setRequestHeader("Authorization", "Bearer " + token);
    xhr.setRequestHeader("Idempotency-Key", record.key);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(record, e.loaded / e.total);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      resolve({ status: xhr.status, body, replayed: xhr.getResponseHeader("Idempotent-Replayed") === "true" });
    };
    xhr.onerror = () => reject(new Offline());
    xhr.ontimeout = () => reject(new Offline());
    const form = new FormData();
    form.append("stage", record.stage);
    form.append("file", record.blob, record.name || "photo.jpg");
    xhr.send(form);
  });
}

async function sendPhoto(record, onProgress) {
  const token = await accessToken();
  let answer = await photoUpload(record, onProgress, token);
  if (answer.status === 401) answer = await photoUpload(record, onProgress, await refreshToken(token));
  if (answer.status >= 500 || answer.status === 401 || answer.status === 0) return false;
  await settle(record, answer.status, answer.body, answer.replayed);
  return true;
}

async function sendBatch(records) {
  const actions = records.map((r) => ({
    idempotency_key: r.key, type: r.type, job_id: r.job_id ?? null, body: r.body,
  }));
  const r = await call("/v1/sync", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ actions }),
  });
  if (!r.ok) return false; // 5xx, or a refusal of the whole batch: keep everything, retry later
  const { results } = await r.json();
  for (let i = 0; i < results.length; i++) {
    const result = results[i];
    if (result.status >= 500) return false; // keep this one and the rest, in order
    await settle(records[i], result.status, result.body, result.replayed);
  }
  return true;
}

let chain = Promise.resolve(true);

// Send what waits, oldest first, until the outbox is empty or the network fails.
// One flush at a time; a call during a flush waits for it and then flushes again.
export function flush(user, onProgress = () => {}) {
  const run = async () => {
    for (;;) {
      const queue = await pending(user);
      if (!queue.length) return true;
      let ok;
      try {
        if (queue[0].type === "photo") {
          ok = await sendPhoto(queue[0], onProgress);
        } else {
          const end = queue.findIndex((r) => r.type === "photo");
          ok = await sendBatch(queue.slice(0, end === -1 ? BATCH : Math.min(end, BATCH)));
        }
      } catch (e) {
        if (e instanceof Offline || e instanceof SignedOut) return false;
        throw e;
      }
      if (!ok) return false;
    }
  };
  chain = chain.catch(() => false).then(run);
  return chain;
}
