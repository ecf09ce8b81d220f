// cassflow's chart code: small time-series line charts on <canvas>, written for this UI
// (no library, no network). CassChart.draw(canvas, series) where each series is
// {label, color, points: [[timeMs, value|null], ...]}; y starts at 0, x spans the points.
(function () {
  "use strict";

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function fmt(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (v >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (v >= 100) return v.toFixed(0);
    if (v >= 1) return v.toFixed(1);
    return v.toFixed(2);
  }

  function clock(ms) {
    const d = new Date(ms);
    return d.toISOString().substring(11, 19);
  }

  function draw(canvas, series) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const left = 44, right = 8, top = 18, bottom = 18;
    const pw = w - left - right, ph = h - top - bottom;
    let t0 = Infinity, t1 = -Infinity, vmax = 0;
    for (const s of series) for (const [t, v] of s.points) {
      if (t < t0) t0 = t; if (t > t1) t1 = t;
      if (v != null && v > vmax) vmax = v;
    }
    const ymax = niceMax(vmax);
    ctx.font = "11px system-ui, sans-serif";
    ctx.strokeStyle = "#e3e6ec"; ctx.fillStyle = "#6b7385"; ctx.lineWidth = 1;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      ctx.beginPath(); ctx.moveTo(left, y + 0.5); ctx.lineTo(left + pw, y + 0.5); ctx.stroke();
      ctx.fillText(fmt((ymax * i) / 4), left - 4, y);
    }
    if (!isFinite(t0)) {
      ctx.textAlign = "center"; ctx.fillText("no data yet", left + pw / 2, top + ph / 2);
      return;
    }
    ctx.textBaseline = "top";
    ctx.textAlign = "left"; ctx.fillText(clock(t0), left, top + ph + 4);
    ctx.textAlign = "right"; ctx.fillText(clock(t1), left + pw, top + ph + 4);
    const span = Math.max(t1 - t0, 1);
    let lx = left;
    for (const s of series) {
      ctx.strokeStyle = s.color; ctx.lineWidth = 1.5; ctx.beginPath();
      let pen = false;
      for (const [t, v] of s.points) {
        if (v == null) { pen = false; continue; }
        const x = left + (pw * (t - t0)) / span, y = top + ph - (ph * v) / ymax;
        if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        pen = true;
      }
      ctx.stroke();
      ctx.fillStyle = s.color; ctx.textAlign = "left"; ctx.textBaseline = "top";
      ctx.fillRect(lx, 4, 10, 3);
      ctx.fillText(s.label, lx + 14, 0);
      lx += 24 + ctx.measureText(s.label).width;
    }
  }

  window.CassChart = { draw: draw };
})();
