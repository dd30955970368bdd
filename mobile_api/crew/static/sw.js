// The crew app's service worker: keeps the app shell (page, scripts, styles, the
// catalogues and the app's rules) so the app opens with no signal. It never caches
// the API's data (/v1/...): the app keeps jobs and its outbox in IndexedDB itself.
// The server stamps VERSION with a digest of the static files: a new release
// installs a new cache and drops the old one.
"use strict";
const VERSION = "__SHELL_VERSION__";
const CACHE = "gridcrew-crew-" + VERSION;
const SHELL = [
  "/crew/",
  "/crew/manifest.webmanifest",
  "/crew/config.json",
  "/crew/static/crew.css",
  "/crew/static/app.js",
  "/crew/static/api.js",
  "/crew/static/outbox.js",
  "/crew/static/view.js",
  "/crew/static/live.js",
  "/crew/static/signature.js",
  "/crew/static/minimap.js",
  "/crew/static/vendor/idb/index.js",
  "/crew/static/icon-192.png",
  "/crew/static/icon-512.png",
  "/i18n/i18n.js",
  "/i18n/locale.json",
  "/i18n/zh-CN.json",
  "/i18n/en.json",
];
const SHELL_PATHS = new Set(SHELL);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(
        keys.filter((k) => k.startsWith("gridcrew-crew-") && k !== CACHE).map((k) => caches.delete(k)),
      ))
      .then(() => self.clients.claim()),
  );
});

// The shell: network first with a short wait (a fresh catalogue or rule when there is
// signal), the cache when the network fails or is slow; the cache is refreshed from
// every good answer.
const NETWORK_WAIT_MS = 2500;

async function shell(request, key) {
  const cache = await caches.open(CACHE);
  const network = fetch(request).then((response) => {
    if (response.ok) cache.put(key, response.clone());
    return response;
  });
  const cached = await cache.match(key);
  if (!cached) return network;
  const timeout = new Promise((resolve) => setTimeout(() => resolve(cached), NETWORK_WAIT_MS));
  return Promise.race([network.catch(() => cached), timeout]);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && (url.pathname === "/crew" || url.pathname === "/crew/")) {
    event.respondWith(shell(request, "/crew/"));
  } else if (SHELL_PATHS.has(url.pathname)) {
    event.respondWith(shell(request, url.pathname));
  }
});
