// The customer page: one-tap outage report, follow an application or repair by number and
// the phone's last four digits, photos, the signed sheet, ratings, complaints, planned
// outages, Web Push. Talks only to the public customer API; keeps the pair in memory only.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const t = (k, p) => GC.i18n.t(k, p);
  const time = (iso) => GC.i18n.time(iso);
  const DIMS = ["attitude", "professional_skill", "response_speed", "process_standard"];
  let current = null; // {number, last4, view}
  let lastComplaint = null;
  const answers = new Map(); // element -> [() => text, bad]: redrawn in the other language

  function show(el, text, bad) {
    const draw = typeof text === "function" ? text : () => text;
    answers.set(el, [draw, bad]);
    el.hidden = false;
    el.textContent = draw();
    el.classList.toggle("bad", !!bad);
  }

  async function api(method, path, body, last4) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (last4) headers["X-Phone-Last4"] = last4;
    const r = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { status: r.status, ok: r.ok, data, retry: r.headers.get("Retry-After") };
  }

  function problemText(r) {
    if (r.status === 429) return t("customer.too_many", { n: r.retry || 60 });
    const code = r.data && r.data.code;
    const known = {
      unknown_meter: "customer.unknown_meter", unknown_phone: "customer.unknown_phone",
      several_meters: "customer.several_meters", not_found: "customer.not_found",
      already_rated: "customer.already_rated", not_ratable: "customer.not_ratable",
    };
    return t(known[code] || "customer.failed");
  }

  // ---- one-tap outage report
  function reportText(a) {
    if (a.outcome === "planned" && a.planned_outage) {
      const p = a.planned_outage;
      return t("customer.outcome.planned", { number: p.number, reason: p.reason, until: time(p.ends_at) });
    }
    const lines = [t("customer.outcome." + a.outcome, { number: a.work_order_number || "-" })];
    const eta = a.crew_eta || a.eta;
    if (a.crew_status) lines.push(t("customer.crew." + a.crew_status, { time: time(eta) }));
    else if (eta) lines.push(t("customer.crew_eta", { time: time(eta) }));
    const etr = a.estimated_restoration || a.etr;
    if (etr) lines.push(t("customer.restoration", { time: time(etr.at || etr) }));
    if (a.work_order_number) lines.push(t("customer.follow_number", { number: a.work_order_number }));
    return lines.join("\n");
  }

  async function report(ev) {
    ev.preventDefault();
    const who = $("who").value.trim();
    const body = /[A-Za-z]/.test(who) ? { meter_id: who.toUpperCase() } : { phone: who };
    const out = $("report-answer");
    show(out, () => t("customer.sending"));
    $("report-button").disabled = true;
    try {
      const r = await api("POST", "/v1/outage-reports", body);
      if (!r.ok) return show(out, () => problemText(r), true);
      show(out, () => reportText(r.data));
      if (r.data.work_order_number) $("number").value = r.data.work_order_number;
    } catch (e) {
      show(out, () => t("customer.failed"), true);
    } finally {
      $("report-button").disabled = false;
    }
  }

  // ---- follow an application or a repair
  function li(cls, name, state, meta) {
    const el = document.createElement("li");
    el.className = cls;
    const s = document.createElement("span");
    s.className = "state";
    s.textContent = state;
    const n = document.createElement("div");
    n.className = "name";
    n.textContent = name;
    el.append(s, n);
    for (const m of meta.filter(Boolean)) {
      const d = document.createElement("div");
      d.className = "meta";
      d.textContent = m;
      el.append(d);
    }
    return el;
  }

  function renderStages(v) {
    const list = $("stages");
    list.replaceChildren();
    if (v.kind === "application") {
      for (const s of v.stages) {
        const late = s.on_time === false;
        list.append(li(
          s.state + (late ? " late" : ""),
          t("notify.stage." + s.stage),
          late ? t("customer.state.late") : t("customer.state." + s.state),
          [
            t("customer.owner", { owner: t("notify.owner." + s.stage) }),
            t("customer.deadline", { time: time(s.deadline) }),
            s.reached_at ? t("customer.reached", { time: time(s.reached_at) }) : "",
          ],
        ));
      }
    } else {
      const nextStep = v.next && v.next.step;
      for (const s of v.steps) {
        const state = s.done ? "done" : s.step === nextStep ? "current" : "pending";
        list.append(li(state, t("customer.step." + s.step), t("customer.state." + state),
          [s.at ? t("customer.reached", { time: time(s.at) }) : ""]));
      }
    }
  }

  function promise(v) {
    const parts = [];
    if (v.kind === "application") {
      for (const a of v.appointments || []) {
        parts.push(t("customer.appointment", {
          purpose: t("notify.stage." + a.purpose), from: time(a.starts_at), to: time(a.ends_at),
        }));
      }
    } else {
      if (v.window_start) {
        parts.push(t("customer.appointment", {
          purpose: "", from: time(v.window_start), to: time(v.window_end),
        }));
      } else if (v.arrival_deadline) {
        parts.push(t("customer.arrival_deadline", { time: time(v.arrival_deadline) }));
      }
      const eta = v.crew_eta || v.eta;
      if (eta && !v.restored_at) parts.push(t("customer.crew_eta", { time: time(eta) }));
      const etr = v.estimated_restoration || v.etr;
      if (etr && !v.restored_at) parts.push(t("customer.restoration", { time: time(etr.at || etr) }));
      if (v.restored_at) parts.push(t("customer.restored_at", { time: time(v.restored_at) }));
    }
    return parts.join("\n");
  }

  async function blobUrl(path) {
    const r = await fetch(path, { headers: { "X-Phone-Last4": current.last4 } });
    if (!r.ok) return null;
    return URL.createObjectURL(await r.blob());
  }

  async function renderPhotos(v) {
    const box = $("photos");
    box.replaceChildren();
    const photos = (v.photos || []).slice(0, 6);
    if (!photos.length) {
      const none = document.createElement("p");
      none.dataset.i18n = "customer.no_photos";
      none.textContent = t("customer.no_photos");
      box.append(none);
      return;
    }
    for (const p of photos) {
      const url = await blobUrl(p.url);
      if (!url) continue;
      const img = document.createElement("img");
      img.src = url;
      img.alt = t("customer.photos");
      box.append(img);
    }
  }

  function renderRating(v) {
    const select = $("rate-stage");
    const chosen = select.value;
    select.replaceChildren();
    const stages = v.kind === "application"
      ? v.stages.filter((s) => s.state !== "pending").map((s) => [s.stage, t("notify.stage." + s.stage)])
      : ["work_done", "signed_off"].includes(v.status) ? [["completion", t("customer.stage.completion")]] : [];
    for (const [value, label] of stages) select.append(new Option(label, value, false, value === chosen));
    $("rate-form").hidden = !stages.length;
    const dims = $("dims");
    if (!dims.children.length) {
      for (const d of DIMS) {
        const row = document.createElement("label");
        row.className = "dim";
        const name = document.createElement("span");
        name.dataset.i18n = "customer.dim." + d;
        name.textContent = t("customer.dim." + d);
        const pick = document.createElement("select");
        pick.name = d;
        for (let n = 5; n >= 1; n--) pick.append(new Option("★".repeat(n) + " " + n, String(n)));
        row.append(name, pick);
        dims.append(row);
      }
    }
  }

  async function renderPlanned() {
    const r = await api("GET", "/v1/customer/" + encodeURIComponent(current.number) + "/planned-outages",
      undefined, current.last4);
    const list = $("planned");
    list.replaceChildren();
    const rows = r.ok ? r.data : [];
    if (!rows.length) {
      const el = document.createElement("li");
      el.textContent = t("customer.no_planned");
      list.append(el);
    }
    for (const p of rows) {
      const el = document.createElement("li");
      el.textContent = t("customer.planned_item", {
        from: time(p.starts_at), to: time(p.ends_at), reason: p.reason, number: p.number,
      });
      list.append(el);
    }
  }

  function renderDetail() {
    const v = current.view;
    $("detail").hidden = false;
    $("detail-title").textContent = t(v.kind === "application" ? "customer.application" : "customer.repair",
      { number: v.number }) + " · " + t("customer.as_of", { time: time(v.as_of) });
    $("detail-promise").textContent = promise(v);
    renderStages(v);
    renderRating(v);
    const signed = v.kind === "application" ? false : v.status === "signed_off";
    $("sheet").hidden = !(signed || (v.kind === "application" && v.stage === "energized"));
  }

  async function track(ev) {
    if (ev) ev.preventDefault();
    const number = $("number").value.trim().toUpperCase();
    const last4 = $("last4").value.trim();
    const out = $("track-answer");
    out.hidden = true;
    const r = await api("GET", "/v1/track/" + encodeURIComponent(number), undefined, last4);
    if (!r.ok) {
      $("detail").hidden = true;
      return show(out, () => problemText(r), true);
    }
    current = { number, last4, view: r.data };
    renderDetail();
    await renderPlanned();
    await renderPhotos(r.data);
  }

  async function openSheet(ev) {
    ev.preventDefault();
    const url = await blobUrl("/v1/track/" + encodeURIComponent(current.number) + "/sheet.pdf");
    if (url) window.open(url, "_blank");
  }

  async function rate(ev) {
    ev.preventDefault();
    const body = { stage: $("rate-stage").value, comment: "" };
    for (const sel of $("dims").querySelectorAll("select")) body[sel.name] = Number(sel.value);
    const r = await api("POST", "/v1/track/" + encodeURIComponent(current.number) + "/ratings", body,
      current.last4);
    const out = $("rate-answer");
    if (!r.ok) return show(out, () => problemText(r), true);
    const cb = r.data.call_back;
    show(out, () => t("customer.rated") +
      (cb ? "\n" + t("customer.call_back", { time: time(cb.due_at) }) : ""));
  }

  function renderComplaint(c) {
    lastComplaint = c;
    const list = $("complaint-steps");
    list.replaceChildren();
    for (const s of c.steps) {
      list.append(li("done", t("customer.cstep." + s.step), time(s.at), []));
    }
    if (c.next_step) {
      list.append(li("current", t("customer.cstep." + c.next_step), t("customer.state.current"),
        [t("customer.deadline", { time: time(c.next_due) })]));
    }
  }

  async function complain(ev) {
    ev.preventDefault();
    const v = current.view;
    const body = {
      phone: $("c-phone").value.trim(), channel: "web", category: "service",
      description: $("c-text").value.trim(),
    };
    body[v.kind === "application" ? "application_number" : "work_order_number"] = v.number;
    const out = $("complaint-answer");
    const r = await api("POST", "/v1/complaints", body);
    if (!r.ok) return show(out, () => problemText(r), true);
    show(out, () => t("customer.complaint_filed",
      { number: r.data.number, time: time(r.data.contact_due) }));
    const again = await api("GET", "/v1/complaints/" + encodeURIComponent(r.data.number), undefined,
      current.last4);
    renderComplaint(again.ok ? again.data : r.data);
  }

  function b64url(text) {
    const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  async function subscribe() {
    const out = $("push-answer");
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      return show(out, () => t("customer.push_unsupported"), true);
    }
    if ((await Notification.requestPermission()) !== "granted") {
      return show(out, () => t("customer.push_denied"), true);
    }
    try {
      const reg = await navigator.serviceWorker.register("/c/sw.js", { scope: "/c/" });
      const key = await (await fetch("/v1/customer/push-key")).json();
      const sub = await reg.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: b64url(key.public_key),
      });
      const r = await api("POST", "/v1/customer/" + encodeURIComponent(current.number) +
        "/push-subscriptions", sub.toJSON(), current.last4);
      show(out, () => (r.ok ? t("customer.push_on") : problemText(r)), !r.ok);
    } catch (e) {
      show(out, () => t("customer.push_unsupported"), true);
    }
  }

  GC.i18n.ready.then(() => {
    $("report-form").addEventListener("submit", report);
    $("track-form").addEventListener("submit", track);
    $("rate-form").addEventListener("submit", rate);
    $("complaint-form").addEventListener("submit", complain);
    $("sheet").addEventListener("click", openSheet);
    $("sheet").href = "#";
    $("push").addEventListener("click", subscribe);
    $("lang").addEventListener("click", async () => {
      await GC.i18n.setLanguage(GC.i18n.lang === "en" ? "zh-CN" : "en");
      for (const [el, [draw, bad]] of answers) show(el, draw, bad);
      if (lastComplaint) renderComplaint(lastComplaint);
      if (current) {
        renderDetail();
        await renderPlanned();
      }
    });
    const hash = decodeURIComponent(location.hash.slice(1));
    if (hash) $("number").value = hash;
    document.body.dataset.ready = "1";
  });
})();
