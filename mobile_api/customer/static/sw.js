// The customer page's service worker: shows a Web Push notification and opens the page.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || "GridCrew", {
    body: data.body || "", tag: "gridcrew-" + (data.id || ""), data: { url: data.url || "/c/" },
  }));
});
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(clients.openWindow(event.notification.data.url || "/c/"));
});
