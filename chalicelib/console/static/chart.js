// Metrics as a picture: grouped SVG bar chart, one group per metric, one bar per version.
"use strict";
const Chart = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#2f6fb0", "#e07b39", "#3a9d5d", "#9b59b6", "#c0392b", "#7f8c8d"];
  const el = (name, attrs, text) => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  /** series: [{label, values: {metric: number}}]; metrics: [[key, short label]]. */
  function bars(series, metrics) {
    const W = 720, H = 260, left = 40, bottom = 40, top = 16;
    const plotH = H - bottom - top, groupW = (W - left - 10) / metrics.length;
    const barW = Math.max(4, (groupW - 12) / Math.max(1, series.length));
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart",
                            role: "img", "aria-label": "solution version metrics" });
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      const y = top + plotH * (1 - t);
      svg.appendChild(el("line", { x1: left, x2: W - 10, y1: y, y2: y, class: "grid" }));
      svg.appendChild(el("text", { x: left - 4, y: y + 4, "text-anchor": "end", class: "tick" }, t.toFixed(2)));
    }
    metrics.forEach(([key, label], g) => {
      const x0 = left + g * groupW + 6;
      series.forEach((s, i) => {
        const v = Math.max(0, Math.min(1, Number(s.values[key]) || 0));
        const h = plotH * v;
        const bar = el("rect", { x: x0 + i * barW, y: top + plotH - h, width: barW - 2, height: h,
                                 fill: COLORS[i % COLORS.length], class: "bar", "data-metric": key });
        bar.appendChild(el("title", {}, `${s.label} ${label}: ${v.toFixed(4)}`));
        svg.appendChild(bar);
      });
      svg.appendChild(el("text", { x: x0 + groupW / 2 - 6, y: H - bottom + 16, "text-anchor": "middle",
                                   class: "tick" }, label));
    });
    series.forEach((s, i) => {
      svg.appendChild(el("rect", { x: left + i * 150, y: H - 14, width: 10, height: 10, fill: COLORS[i % COLORS.length] }));
      svg.appendChild(el("text", { x: left + i * 150 + 14, y: H - 5, class: "tick" }, s.label));
    });
    return svg;
  }
  return { bars };
})();
