// The site on a small map, drawn as SVG with no tiles (works offline): the site,
// its check-in circle, the crew's last fix with its accuracy, north up, a scale bar.
const NS = "http://www.w3.org/2000/svg";
const W = 300, H = 160;

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

// Metres east and north of the site (a local flat projection; fine over a few km).
function local(site, p) {
  const mLat = 111_320;
  const mLon = mLat * Math.cos((site.lat * Math.PI) / 180);
  return [(p.lon - site.lon) * mLon, (p.lat - site.lat) * mLat];
}

export function distanceM(a, b) {
  const [x, y] = local(a, b);
  return Math.hypot(x, y);
}

export function draw(svg, site, radiusM, fix) {
  svg.replaceChildren();
  let extent = radiusM * 1.6;
  let me = null;
  if (fix) {
    me = local(site, fix);
    extent = Math.max(extent, Math.hypot(me[0], me[1]) * 1.25 + fix.accuracy_m);
  }
  const scale = (H / 2 - 10) / extent; // px per metre
  const cx = W / 2, cy = H / 2;
  svg.append(el("circle", { cx, cy, r: radiusM * scale, fill: "#1f7a3d22", stroke: "#1f7a3d", "stroke-width": 2 }));
  svg.append(el("circle", { cx, cy, r: 7, fill: "#a11d1d", stroke: "#fff", "stroke-width": 2 }));
  if (me) {
    const x = cx + me[0] * scale, y = cy - me[1] * scale;
    svg.append(el("circle", { cx: x, cy: y, r: Math.max(3, fix.accuracy_m * scale), fill: "#12467a22", stroke: "#12467a" }));
    svg.append(el("circle", { cx: x, cy: y, r: 6, fill: "#12467a", stroke: "#fff", "stroke-width": 2 }));
  }
  const bar = niceLength(extent / 2);
  svg.append(el("line", { x1: 10, y1: H - 10, x2: 10 + bar * scale, y2: H - 10, stroke: "#0b1622", "stroke-width": 3 }));
  svg.append(el("text", { x: 12, y: H - 16, "font-size": 12, fill: "#0b1622" }, bar >= 1000 ? bar / 1000 + " km" : bar + " m"));
  svg.append(el("text", { x: W - 16, y: 18, "font-size": 14, "font-weight": 700, fill: "#0b1622" }, "N"));
}

function niceLength(m) {
  const p = 10 ** Math.floor(Math.log10(m));
  return [5, 2, 1].map((k) => k * p).find((v) => v <= m) || p;
}
