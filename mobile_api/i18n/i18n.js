// The pages' side of mobile_api/i18n: the catalogue, the language switch and the
// utility's local time. Usage:
//   await GC.i18n.ready;            // catalogue and locale loaded
//   GC.i18n.t("crew.jobs_title", {n: 3});
//   GC.i18n.time("2026-12-08T01:05:00Z");   // "09:05", or "12月7日 09:05" when not today
//   GC.i18n.setLanguage("en");      // persisted on this device, reloads the catalogue
//   <span data-i18n="common.login"></span> elements are filled by GC.i18n.apply(root)
(function () {
  "use strict";
  const KEY = "gridcrew.lang";
  const state = { lang: "zh-CN", zone: "Asia/Shanghai", messages: {}, fallback: {} };

  function pick() {
    const saved = localStorage.getItem(KEY);
    if (saved === "en" || saved === "zh-CN") return saved;
    return "zh-CN"; // the utility's people read Chinese; English by the switch
  }

  async function fetchJson(url) {
    const r = await fetch(url, { cache: "no-cache" });
    if (!r.ok) throw new Error(url + " " + r.status);
    return r.json();
  }

  async function load(lang) {
    state.lang = lang;
    const [locale, messages, fallback] = await Promise.all([
      fetchJson("/i18n/locale.json"),
      fetchJson("/i18n/" + lang + ".json"),
      lang === "zh-CN" ? Promise.resolve(null) : fetchJson("/i18n/zh-CN.json"),
    ]);
    state.zone = locale.time_zone;
    state.messages = messages;
    state.fallback = fallback || messages;
    document.documentElement.lang = lang;
    apply(document);
    document.dispatchEvent(new CustomEvent("gc-language", { detail: { lang } }));
  }

  function t(key, params) {
    let text = state.messages[key] ?? state.fallback[key] ?? key;
    if (params) text = text.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
    return text;
  }

  function parts(date) {
    const f = new Intl.DateTimeFormat("en-CA", {
      timeZone: state.zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    });
    const o = {};
    for (const p of f.formatToParts(date)) o[p.type] = p.value;
    return o;
  }

  // A time as people of the utility read it: local zone, a date when not today.
  function time(iso, now) {
    if (!iso) return "";
    const at = parts(new Date(iso)), today = parts(now ? new Date(now) : new Date());
    const hm = at.hour + ":" + at.minute;
    if (at.year === today.year && at.month === today.month && at.day === today.day) return hm;
    const m = Number(at.month), d = Number(at.day);
    const months = ["Jan","Feb","Mar","Apr","May","Jun","Jul","Aug","Sep","Oct","Nov","Dec"];
    const day = state.lang === "en" ? months[m - 1] + " " + d : m + "月" + d + "日";
    const year = at.year !== today.year ? (state.lang === "en" ? ", " + at.year : at.year + "年") : "";
    return state.lang === "en" ? day + year + " " + hm : year + day + " " + hm;
  }

  function apply(root) {
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-placeholder]"))
      el.placeholder = t(el.dataset.i18nPlaceholder);
    for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  }

  function setLanguage(lang) {
    localStorage.setItem(KEY, lang);
    return load(lang);
  }

  window.GC = window.GC || {};
  window.GC.i18n = {
    ready: load(pick()),
    t, time, apply, setLanguage,
    get lang() { return state.lang; },
    get zone() { return state.zone; },
  };
})();
