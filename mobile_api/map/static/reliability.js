// The KPI strip's reliability figures: SAIDI today and month to date (local days of the
// utility), from GET /v1/kpi/reliability. Self-contained: it waits for map.js to log in
// (window.gridcrewMap.token), adds its own <span> to the strip and refreshes every five
// minutes (SAIDI grows while an outage lasts; the board stream does not carry it).
// Never writes anything but its own span.
(function () {
  "use strict";
  const REFRESH_MS = 5 * 60 * 1000;
  const state = { today: null, month: null, timer: null };
  const i18n = () => window.GC && window.GC.i18n;
  const t = (key, params) => (i18n() ? i18n().t(key, params) : key);

  // [year, month, day] of an instant in the utility's zone, and the zone's UTC offset (ms)
  function localParts(date, zone) {
    const f = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
    const p = {};
    for (const part of f.formatToParts(date)) p[part.type] = Number(part.value);
    const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    return { year: p.year, month: p.month, day: p.day, offset: asUtc - (date.getTime() - date.getMilliseconds()) };
  }

  // Local midnight of (year, month, day) in the zone, as an instant
  function localMidnight(year, month, day, zone) {
    const guess = new Date(Date.UTC(year, month - 1, day));
    return new Date(guess.getTime() - localParts(guess, zone).offset);
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function span() {
    let el = document.getElementById("kpi-reliability");
    if (!el) {
      el = document.createElement("span");
      el.id = "kpi-reliability";
      el.className = "kpi";
      el.innerHTML =
        '<b id="kpi-saidi-today">–</b> <span class="label-today"></span> · ' +
        '<b id="kpi-saidi-month">–</b> <span class="label-month"></span>';
      const strip = document.getElementById("kpi");
      strip.insertBefore(el, document.getElementById("live-status"));
    }
    return el;
  }

  function minutes(value) {
    return value == null ? "–" : t("map.reliability_minutes", { n: value.toFixed(1) });
  }

  function render() {
    const el = span();
    el.title = t("map.reliability_title");
    el.querySelector(".label-today").textContent = t("map.reliability_saidi_today");
    el.querySelector(".label-month").textContent = t("map.reliability_saidi_month");
    document.getElementById("kpi-saidi-today").textContent = minutes(state.today);
    document.getElementById("kpi-saidi-month").textContent = minutes(state.month);
  }

  async function load() {
    const map = window.gridcrewMap;
    const zone = i18n() ? i18n().zone : "Asia/Shanghai";
    const now = new Date();
    const today = localParts(now, zone);
    const from = localMidnight(today.year, today.month, 1, zone);
    const params = new URLSearchParams({
      from: from.toISOString(), to: now.toISOString(), by: "total", bucket: "day",
    });
    const r = await fetch("/v1/kpi/reliability?" + params, {
      headers: { Authorization: "Bearer " + map.token },
    });
    if (!r.ok) return; // a lapsed token: map.js refreshes it, the next round retries
    const body = await r.json();
    const total = body.groups.total || {};
    const key = today.year + "-" + pad(today.month) + "-" + pad(today.day);
    const day = body.trend.find((row) => row.bucket === key && row.group === "total");
    state.month = total.saidi_min ?? null;
    state.today = day ? day.saidi_min : null;
    render();
    document.body.dataset.reliabilityReady = "1";
  }

  function start() {
    if (!window.gridcrewMap || !window.gridcrewMap.token) {
      setTimeout(start, 1000);
      return;
    }
    load().catch((e) => console.warn("reliability strip:", e));
    state.timer = setInterval(() => load().catch((e) => console.warn("reliability strip:", e)), REFRESH_MS);
  }

  document.addEventListener("gc-language", () => {
    if (document.getElementById("kpi-reliability")) render();
  });
  window.gridcrewReliability = state;
  start();
})();
