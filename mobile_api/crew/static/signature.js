// The customer's signature pad: pointer events on a canvas, kept as strokes
// [[[x, y], ...], ...] in the canvas's own 600 x 200 coordinates (what the API draws
// into the sheet's PNG). Straight segments between samples, as the server draws them.
export function pad(canvas) {
  const ctx = canvas.getContext("2d");
  let strokes = [];
  let current = null;

  function point(e) {
    const box = canvas.getBoundingClientRect();
    const x = ((e.clientX - box.left) / box.width) * canvas.width;
    const y = ((e.clientY - box.top) / box.height) * canvas.height;
    return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
  }

  function draw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 3;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#0b1622";
    for (const s of strokes) {
      ctx.beginPath();
      s.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      if (s.length === 1) ctx.lineTo(s[0][0] + 0.1, s[0][1]);
      ctx.stroke();
    }
  }

  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    current = [point(e)];
    strokes.push(current);
    draw();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!current || current.length >= 5000) return;
    current.push(point(e));
    draw();
  });
  const end = () => { current = null; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  return {
    strokes: () => strokes.filter((s) => s.length > 0).slice(0, 500),
    empty: () => strokes.length === 0,
    clear() { strokes = []; current = null; draw(); },
  };
}
