// kinoseal web page: the per-frame score plot, an SVG with labelled parts (the browser tests read them).
// Two panels, one quantity each on its own axis: the watermark statistic per frame and the
// classifier probability (0-1) per window, with the classifier's threshold drawn as a line.
"use strict";

const KinoPlot = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLOURS = { watermark: "#2f6fde", classifier: "#b3261e", threshold: "#1d232b", band: "#e4ecf9" };
  const LEFT = 52, RIGHT = 14, FONT = 12;
  const MUTED = "#5b6573";

  function mk(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text != null) e.textContent = text;
    return e;
  }

  function niceStep(range, n) {
    const raw = range / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  }
  function tickText(v, step) {
    const d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return Number(v.toFixed(d)).toString();
  }

  // One panel: title, y axis with ticks, x-axis end labels, optional band / threshold, the series.
  function panel(W, spec) {
    const { series, top, height, lo, hi, step, values, title, xUnit, colour } = spec;
    const g = mk("g", { class: "panel", "data-series": series });
    const plotW = W - LEFT - RIGHT, bottom = top + height;
    const y = (v) => bottom - (v - lo) / (hi - lo) * height;
    g.append(mk("text", { class: "axis-title", x: LEFT, y: top - 8, "font-size": FONT, "font-weight": 600, fill: "#1d232b" }, title));
    if (spec.band) {
      const [a, b] = spec.band;
      g.append(mk("rect", { class: "noise-band", "data-from": a, "data-to": b, x: LEFT, y: y(b), width: plotW, height: y(a) - y(b), fill: COLOURS.band }));
    }
    const axis = mk("g", { class: "y-axis" });
    axis.append(mk("line", { x1: LEFT, y1: top, x2: LEFT, y2: bottom, stroke: "#aab3bf" }));
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) {
      const yy = y(v).toFixed(1);
      axis.append(mk("line", { class: "grid", x1: LEFT, y1: yy, x2: W - RIGHT, y2: yy, stroke: "#e4e8ee" }));
      axis.append(mk("text", { class: "tick", "data-value": tickText(v, step), x: LEFT - 6, y: Number(yy) + 4, "text-anchor": "end", "font-size": FONT, fill: MUTED },
        tickText(v, step)));
    }
    g.append(axis);
    g.append(mk("line", { class: "x-axis", x1: LEFT, y1: bottom, x2: W - RIGHT, y2: bottom, stroke: "#aab3bf" }));
    if (spec.threshold != null) {
      const ty = y(spec.threshold).toFixed(1);
      g.append(mk("line", { class: "threshold", "data-value": spec.threshold, x1: LEFT, y1: ty, x2: W - RIGHT, y2: ty,
        stroke: COLOURS.threshold, "stroke-dasharray": "6 4", "stroke-width": 1.5 }));
      g.append(mk("text", { class: "threshold-label", x: W - RIGHT - 4, y: Number(ty) + FONT + 2, "text-anchor": "end", "font-size": FONT - 1, fill: "#1d232b" },
        "threshold " + Number(Number(spec.threshold).toPrecision(4))));
    }
    if (!values.length) {
      g.append(mk("text", { class: "empty", x: LEFT + plotW / 2, y: top + height / 2, "text-anchor": "middle", "font-size": FONT, fill: MUTED }, spec.empty));
      return g;
    }
    const x = (i) => LEFT + (values.length === 1 ? 0.5 : i / (values.length - 1)) * plotW;
    const pts = values.map((v, i) => x(i).toFixed(1) + "," + y(Math.max(lo, Math.min(hi, v))).toFixed(1));
    g.append(mk("polyline", { class: "series", "data-series": series, "data-count": values.length, points: pts.join(" "),
      fill: "none", stroke: colour, "stroke-width": 2, "stroke-linejoin": "round" }));
    if (values.length <= 24) {
      for (const p of pts) { const [cx, cy] = p.split(","); g.append(mk("circle", { class: "point", cx, cy, r: 2.5, fill: colour })); }
    }
    g.append(mk("text", { class: "x-label", x: LEFT, y: bottom + 16, "font-size": FONT, fill: MUTED }, xUnit + " 1"));
    g.append(mk("text", { class: "x-label", x: W - RIGHT, y: bottom + 16, "text-anchor": "end", "font-size": FONT, fill: MUTED },
      xUnit + " " + values.length));
    return g;
  }

  // The legend, in as many rows as the width needs; returns [group, height].
  function legend(W, items) {
    const g = mk("g", { class: "legend" });
    let x = LEFT, y = 12;
    for (const it of items) {
      const w = 40 + it.text.length * 6.6;
      if (x > LEFT && x + w > W - RIGHT) { x = LEFT; y += 20; }
      const item = mk("g", { class: "legend-item", "data-series": it.series });
      item.append(it.box ? mk("rect", { class: "swatch", x, y: y - 6, width: 22, height: 12, fill: it.colour, stroke: "#aab3bf" })
        : mk("line", { class: "swatch", x1: x, y1: y, x2: x + 22, y2: y, stroke: it.colour, "stroke-width": it.dash ? 1.5 : 3,
          "stroke-dasharray": it.dash || "none" }));
      item.append(mk("text", { x: x + 28, y: y + 4, "font-size": FONT, fill: "#1d232b" }, it.text));
      g.append(item);
      x += w;
    }
    return [g, y + 12];
  }

  // The plot of a report (the JSON of `kinoseal verify --json`), drawn for a box ``width`` CSS
  // pixels wide so that its 12 px labels show at 12 px.
  function scorePlot(r, width) {
    const W = Math.max(300, Math.round(width || 520));
    const w = r.watermark || {}, k = r.classifier || {};
    const wm = (w.per_frame || []).filter((v) => isFinite(v));
    const cl = (k.per_frame || []).filter((v) => isFinite(v));
    // kinoseal's own methods report t = sum(chip * F) / ||F|| per frame: about N(0, 1) on a frame
    // without the mark, so frames of an unmarked clip stay within about +-3.
    const tStat = !w.method || String(w.method).startsWith("kinoseal-wm");
    let lo = Math.min(0, ...wm), hi = Math.max(1e-9, ...wm);
    if (tStat) { lo = Math.min(lo, -4); hi = Math.max(hi, 4); }
    const step = niceStep(hi - lo, 4);
    lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
    const thr = k.threshold != null ? Number(k.threshold) : null;
    const items = [{ series: "watermark", colour: COLOURS.watermark, text: "watermark (t per frame)" },
      { series: "classifier", colour: COLOURS.classifier, text: "classifier (probability)" }];
    if (tStat) items.push({ series: "band", colour: COLOURS.band, text: "where unmarked frames fall", box: true });
    if (thr != null) items.push({ series: "threshold", colour: COLOURS.threshold, text: "classifier threshold", dash: "6 4" });
    const [legendG, lh] = legend(W, items);
    const top1 = lh + 28, top2 = top1 + 120 + 50, H = top2 + 90 + 26;
    const svg = mk("svg", { class: "score-plot", viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": "Per-frame scores: watermark statistic per frame and classifier probability per window" });
    svg.append(mk("title", {}, "Per-frame scores"));
    svg.append(legendG);
    svg.append(panel(W, {
      series: "watermark", top: top1, height: 120, lo, hi, step, values: wm, colour: COLOURS.watermark, xUnit: "frame",
      title: tStat ? "Watermark statistic t per frame" : "Watermark score per frame (" + w.method + ")",
      band: tStat ? [-3, 3] : null,
      empty: w.error ? "no frames: " + w.error : "no frames analysed",
    }));
    svg.append(panel(W, {
      series: "classifier", top: top2, height: 90, lo: 0, hi: 1, step: 0.5, values: k.available ? cl : [],
      colour: COLOURS.classifier, xUnit: "window", threshold: thr,
      title: "Classifier probability (0 to 1)",
      empty: "classifier not run",
    }));
    return svg;
  }

  return { scorePlot, COLOURS };
})();
