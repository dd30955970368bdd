// The live plan: GET /v1/crew/plan/stream read with fetch() so the token goes in
// the Authorization header, never in a URL (EventSource cannot send headers).
// Server-sent events are parsed here; the stream is reopened after a drop, after
// the server ends it at the token's expiry, and when the network returns.
import { call, Offline, SignedOut } from "./api.js";

const RETRY_MS = 3000;

function parse(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return data.length ? { event, data: data.join("\n") } : null;
}

// Calls onPlan(jobs) for each plan the server sends, onState("live" | "down").
export function follow({ onPlan, onState, onSignedOut }) {
  let stopped = false;
  let controller = null;
  let timer = null;

  async function once() {
    controller = new AbortController();
    const r = await call("/v1/crew/plan/stream", {
      signal: controller.signal,
      headers: { Accept: "text/event-stream" },
    });
    if (!r.ok) throw new Offline();
    onState("live");
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const message = parse(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (message && message.event === "plan") onPlan(JSON.parse(message.data).jobs);
      }
    }
  }

  async function loop() {
    while (!stopped) {
      try {
        await once();
      } catch (e) {
        if (e instanceof SignedOut) {
          onSignedOut();
          return;
        }
      }
      onState("down");
      if (stopped) return;
      await new Promise((resolve) => { timer = setTimeout(resolve, RETRY_MS); });
    }
  }

  function restart() {
    if (controller) controller.abort();
    if (timer) clearTimeout(timer);
  }

  window.addEventListener("online", restart);
  loop();
  return {
    stop() {
      stopped = true;
      restart();
      window.removeEventListener("online", restart);
    },
  };
}
