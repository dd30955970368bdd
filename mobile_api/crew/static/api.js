// Sign-in and authenticated requests to the mobile API. The tokens live in
// localStorage; the access token is refreshed with the (single-use) refresh token
// under a Web Lock, so two tabs never spend the same refresh token. While offline
// the crew stays signed in until the refresh token itself expires.
const KEY = "gridcrew.crew.session";

export class SignedOut extends Error {}
export class Offline extends Error {}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

export function session() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function save(pair) {
  const s = {
    access: pair.access_token,
    refresh: pair.refresh_token,
    accessExp: (claims(pair.access_token).exp || 0) * 1000,
    refreshExp: (claims(pair.refresh_token).exp || 0) * 1000,
    username: claims(pair.access_token).sub,
    role: pair.role,
    crew: pair.crew_id,
  };
  localStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

export function signedIn() {
  const s = session();
  return !!s && s.refreshExp > Date.now();
}

export function signOut() {
  localStorage.removeItem(KEY);
}

export async function signIn(username, password) {
  const form = new URLSearchParams({ username, password });
  const r = await fetch("/v1/auth/token", { method: "POST", body: form });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body.detail || r.status), { code: body.code });
  if (body.role !== "crew" || !body.crew_id) throw Object.assign(new Error("crew_only"), { code: "crew_only" });
  return save(body);
}

async function refreshed(stale) {
  const run = async () => {
    const s = session();
    if (!s) throw new SignedOut();
    if (s.access !== stale && s.accessExp > Date.now() + 30_000) return s; // another tab did it
    if (s.refreshExp <= Date.now()) throw new SignedOut();
    let r;
    try {
      r = await fetch("/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: s.refresh }),
      });
    } catch {
      throw new Offline();
    }
    if (r.status === 401) {
      signOut();
      throw new SignedOut();
    }
    if (!r.ok) throw new Offline();
    return save(await r.json());
  };
  return navigator.locks ? navigator.locks.request("gridcrew-refresh", run) : run();
}

// A valid access token (refreshed when it is about to expire).
export async function accessToken() {
  const s = session();
  if (!s) throw new SignedOut();
  if (s.accessExp > Date.now() + 30_000) return s.access;
  return (await refreshed(s.access)).access;
}

// fetch() with the Bearer token; one retry after a refresh on 401.
// Offline when the network fails; SignedOut when no token can be had.
export async function call(path, options = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const token = await accessToken();
    const headers = new Headers(options.headers || {});
    headers.set("Authorization", "Bearer " + token);
    let r;
    try {
      r = await fetch(path, { ...options, headers });
    } catch {
      throw new Offline();
    }
    if (r.status !== 401 || attempt === 1) return r;
    await refreshed(token);
  }
}

// A new access token after the server refused *stale* (401).
export async function refreshToken(stale) {
  return (await refreshed(stale)).access;
}

export async function json(path, options) {
  const r = await call(path, options);
  if (!r.ok) throw Object.assign(new Error(path + " " + r.status), { status: r.status });
  return r.json();
}
