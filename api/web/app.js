// kinoseal web page: upload a clip, verify it through the API, show the report.
// No framework, no CDN; everything is built with DOM calls (no innerHTML of report data).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { config: null, report: null, thumbs: [], manifest: null };

const PLAIN = {
  ai_generated: "This clip was made or changed by AI. Its invisible watermark or its signed Content Credentials say so.",
  likely_ai_generated: "A classifier thinks this clip is AI-generated, but no watermark or signature confirms it.",
  authentic: "Authentic recording: it carries a trusted capture signature and its pixels were not changed.",
  untrusted_signature: "The clip is signed, but by a signer this server does not trust. Check who signed it.",
  tampered: "The clip was altered after it was signed: its Content Credentials no longer match.",
  unknown: "No watermark and no Content Credentials were found, so its origin cannot be told.",
};
const SOURCE_TYPES = {
  trainedAlgorithmicMedia: "AI-generated (trained model)",
  compositeWithTrainedAlgorithmicMedia: "Edited with AI",
  algorithmicMedia: "Computer-generated",
  compositeSynthetic: "Composite with synthetic elements",
  digitalCapture: "Recorded by a camera",
};

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function headers() {
  const h = {};
  const key = $("apikey").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function friendly(problem, status) {
  if (status === 0) return "The server could not be reached. Check your connection and try again.";
  if (!problem) return "Something went wrong (HTTP " + status + ").";
  const d = problem.detail || problem.title || "";
  if (status === 422) return "This file could not be read as a video. " + d;
  if (status === 413) return "This file is too large for this server. " + d;
  if (status === 401) return "This server needs an API key. Enter it above and try again.";
  if (status === 403) return "Your API key may not do this. " + d;
  if (status === 429) return "Too many checks in a short time. Please wait a minute and try again.";
  return d || ("Something went wrong (HTTP " + status + ").");
}

function showError(msg) {
  $("error-text").textContent = msg;
  $("error").classList.remove("hidden");
  $("result").classList.add("hidden");
  $("progress").classList.add("hidden");
  $("status").textContent = "";
}

function setStatus(text, pct) {
  $("status").textContent = text;
  if (pct == null) return;
  $("progress").classList.remove("hidden");
  $("bar").style.width = Math.max(0, Math.min(100, pct)) + "%";
  $("progress").setAttribute("aria-valuenow", String(Math.round(pct)));
}

function uploadFile(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/uploads");
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable) setStatus("Uploading… " + Math.round(100 * ev.loaded / ev.total) + "%", 90 * ev.loaded / ev.total);
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 201) resolve(body); else reject(friendly(body, xhr.status));
    };
    xhr.onerror = () => reject(friendly(null, 0));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

async function api(path, opts) {
  let r;
  try {
    r = await fetch(path, { ...(opts || {}), headers: { ...headers(), ...((opts || {}).headers || {}) } });
  } catch (e) { throw friendly(null, 0); }
  let body = null;
  try { body = await r.json(); } catch (e) { /* empty */ }
  if (!r.ok) throw friendly(body, r.status);
  return { status: r.status, body };
}

async function verifyUpload(uploadId) {
  setStatus("Checking the watermark and the Content Credentials…", 92);
  const { status, body } = await api("/v1/verify", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ upload_id: uploadId }),
  });
  if (status === 200) return body;
  // 202: a long clip, verified as a job
  const jobId = body.job_id;
  for (let i = 0; i < 1200; i++) {
    await new Promise((res) => setTimeout(res, Math.min(2000, 200 + i * 100)));
    const job = (await api("/v1/jobs/" + jobId)).body;
    if (job.status === "done") return job.result;
    if (job.status === "failed") throw friendly(job.error, job.error ? job.error.status : 500);
    setStatus("Checking… (" + job.status + ")", 95);
  }
  throw "The check is taking too long. Try again later.";
}

async function handleFile(file) {
  $("error").classList.add("hidden");
  $("result").classList.add("hidden");
  if (!file) return;
  if (state.config && file.size > state.config.max_upload_bytes) {
    showError("This file is too large for this server (limit " + Math.round(state.config.max_upload_bytes / 1048576) + " MiB).");
    return;
  }
  try {
    setStatus("Uploading…", 0);
    const up = await uploadFile(file);
    const report = await verifyUpload(up.upload_id);
    state.report = report;
    state.thumbs = [];
    state.manifest = null;
    try { state.thumbs = (await api("/v1/uploads/" + up.upload_id + "/keyframes?n=6")).body.frames; } catch (e) { /* optional */ }
    if (report.provenance && report.provenance.found && report.provenance.link) {
      try { state.manifest = (await api(report.provenance.link)).body; } catch (e) { /* optional */ }
    }
    setStatus("", 100);
    $("progress").classList.add("hidden");
    render(report);
  } catch (msg) {
    showError(typeof msg === "string" ? msg : "Something went wrong.");
  } finally {
    $("file").value = "";
  }
}

function fact(dl, k, v) {
  if (v == null || v === "") return;
  dl.append(el("dt", { text: k }), el("dd", { text: String(v) }));
}

function sourceType(uri) {
  if (!uri) return null;
  const short = uri.split("/").pop();
  return (SOURCE_TYPES[short] || short) + " (" + short + ")";
}

function ingredientTree(items) {
  if (!items || !items.length) return el("p", { class: "none", text: "No ingredients: this is the first manifest of the clip." });
  const ul = el("ul");
  for (const ing of items) {
    const bits = [ing.title || "untitled", ing.relationship ? " · " + ing.relationship : ""];
    if (ing.digital_source_type) bits.push(" · " + sourceType(ing.digital_source_type));
    if (ing.signer && ing.signer.common_name) bits.push(" · signed by " + ing.signer.common_name);
    const li = el("li", {}, bits.join(""));
    if (ing.failure_codes && ing.failure_codes.length) li.append(el("div", { class: "bad", text: "problems: " + ing.failure_codes.join(", ") }));
    if (ing.ingredients && ing.ingredients.length) li.append(ingredientTree(ing.ingredients));
    ul.append(li);
  }
  return ul;
}

function plot(report) {
  const wm = (report.watermark && report.watermark.per_frame) || [];
  const cl = (report.classifier && report.classifier.per_frame) || [];
  const W = 480, H = 200, P = 32;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "per-frame scores");
  const mk = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; };
  const all = wm.concat(cl);
  if (!all.length) {
    const t = mk("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#5b6573", "font-size": 14 });
    t.textContent = "no per-frame scores";
    svg.append(t);
    return svg;
  }
  const lo = Math.min(0, ...all), hi = Math.max(1e-9, ...all);
  const y = (v) => H - P - (v - lo) / (hi - lo || 1) * (H - 2 * P);
  svg.append(mk("line", { x1: P, y1: H - P, x2: W - 8, y2: H - P, stroke: "#aab3bf" }));
  svg.append(mk("line", { x1: P, y1: P - 8, x2: P, y2: H - P, stroke: "#aab3bf" }));
  const label = (x, yy, text, anchor) => { const t = mk("text", { x, y: yy, "font-size": 11, fill: "#5b6573", "text-anchor": anchor || "start" }); t.textContent = text; svg.append(t); };
  label(P - 4, y(hi) + 4, hi.toFixed(2), "end");
  label(P - 4, y(lo) + 4, lo.toFixed(2), "end");
  label(W - 8, H - 10, "frame", "end");
  const series = (vals, colour) => {
    if (!vals.length) return;
    const x = (i) => P + (vals.length === 1 ? 0.5 : i / (vals.length - 1)) * (W - P - 12);
    svg.append(mk("polyline", { points: vals.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
  };
  series(wm, "#2f6fde");
  series(cl, "#b3261e");
  label(P + 6, 14, "watermark", "start");
  if (cl.length) label(P + 90, 14, "classifier", "start");
  return svg;
}

function render(r) {
  $("error").classList.add("hidden");
  const card = $("verdict");
  card.className = "card verdict v-" + r.verdict;
  $("verdict-label").textContent = r.verdict_label;
  $("verdict-words").textContent = PLAIN[r.verdict] || r.summary;
  $("file-name").textContent = r.file;
  $("confidence").textContent = (100 * r.confidence).toFixed(r.confidence > 0.999 && r.confidence < 1 ? 4 : 0) + "%";

  const ev = $("evidence"); ev.replaceChildren(...r.evidence.map((e) => el("li", { text: e })));
  $("notes").replaceChildren(...(r.notes || []).map((n) => el("li", { text: "note: " + n })));

  const c = r.c2pa || {};
  const dl = $("c2pa"); dl.replaceChildren();
  if (!c.present) {
    fact(dl, "Manifest", "none found in this file");
    $("actions").replaceChildren();
    $("ingredients").replaceChildren(el("p", { class: "none", text: "—" }));
  } else {
    fact(dl, "State", c.validation_state + (c.failure_codes && c.failure_codes.length ? " (" + c.failure_codes.join(", ") + ")" : ""));
    fact(dl, "Signer", c.signer && c.signer.common_name);
    fact(dl, "Issuer", c.signer && c.signer.issuer);
    fact(dl, "Signed at", (c.signer && c.signer.time) || "no trusted time stamp");
    fact(dl, "Source type", sourceType(c.digital_source_type));
    fact(dl, "Made with", c.claim_generator);
    fact(dl, "Title", c.title);
    $("actions").replaceChildren(...(c.actions || []).map((a) => {
      const agent = a.softwareAgent ? (typeof a.softwareAgent === "string" ? a.softwareAgent : [a.softwareAgent.name, a.softwareAgent.version].filter(Boolean).join(" ")) : "";
      return el("li", { text: [a.action, agent && "by " + agent, a.when, a.description].filter(Boolean).join(" · ") });
    }));
    $("ingredients").replaceChildren(ingredientTree(c.ingredients));
  }

  const w = r.watermark || {};
  const wdl = $("watermark"); wdl.replaceChildren();
  fact(wdl, "Result", w.detected ? "found" : "not found");
  if (w.p_value != null) fact(wdl, "p-value", w.p_value.toExponential(2) + (w.detected ? " (chance of a false alarm)" : ""));
  fact(wdl, "Payload id", w.payload_id);
  fact(wdl, "Bit accuracy", w.bit_accuracy != null ? (100 * w.bit_accuracy).toFixed(1) + "%" : null);
  fact(wdl, "Frames analysed", w.frames_analyzed);
  fact(wdl, "Method", w.method);
  fact(wdl, "Note", w.error);
  const prov = $("provenance"); prov.replaceChildren();
  if (r.provenance && r.provenance.found) {
    prov.append(el("h4", { text: "Original Content Credentials (from the watermark)" }));
    const pdl = el("dl", { class: "facts" });
    fact(pdl, "Title", r.provenance.title);
    fact(pdl, "Labeled at", r.provenance.labeled_at);
    fact(pdl, "Signer", r.provenance.signer);
    fact(pdl, "Generator", r.provenance.claim_generator);
    if (state.manifest) fact(pdl, "Manifest", state.manifest.manifest_label);
    prov.append(pdl);
  }

  $("plot").replaceChildren(plot(r));
  $("thumbs").replaceChildren(...state.thumbs.map((t) => el("figure", {},
    el("img", { src: "data:image/jpeg;base64," + t.jpeg_base64, alt: "frame " + t.index, width: t.width, height: t.height }),
    el("figcaption", { text: "frame " + t.index + " · " + t.time.toFixed(2) + " s" }))));
  $("result").classList.remove("hidden");
  $("verdict-label").focus && $("verdict-label").focus();
}

function download(name, type, text) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a); a.click(); a.remove();
}

function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

function htmlReport(r) {
  const c = r.c2pa || {}, w = r.watermark || {};
  const css = "body{font:15px/1.5 system-ui,sans-serif;max-width:800px;margin:30px auto;color:#1d232b}h1{font-size:26px}" +
    ".v{padding:12px 16px;border-radius:8px;border:2px solid #999}dt{color:#5b6573}dd{margin:0 0 6px}img{max-width:180px;margin:4px}";
  const li = (xs) => xs.map((x) => "<li>" + esc(x) + "</li>").join("");
  return "<!doctype html><html><head><meta charset='utf-8'><title>kinoseal report: " + esc(r.file) + "</title><style>" + css + "</style></head><body>" +
    "<h1>Provenance report</h1><p>" + esc(r.file) + "<br>SHA-256 " + esc(r.sha256) + "</p>" +
    "<div class='v'><h2>" + esc(r.verdict_label) + "</h2><p>" + esc(PLAIN[r.verdict] || "") + "</p><p>confidence " + esc(r.confidence) + "</p></div>" +
    "<h3>Evidence</h3><ul>" + li(r.evidence) + "</ul>" +
    "<h3>Content Credentials</h3><dl>" + (c.present ?
      "<dt>State</dt><dd>" + esc(c.validation_state) + "</dd><dt>Signer</dt><dd>" + esc(c.signer && c.signer.common_name) + "</dd>" +
      "<dt>Source type</dt><dd>" + esc(sourceType(c.digital_source_type)) + "</dd><dt>Actions</dt><dd>" + esc((c.actions || []).map((a) => a.action).join(", ")) + "</dd>"
      : "<dt>Manifest</dt><dd>none</dd>") + "</dl>" +
    "<h3>Watermark</h3><dl><dt>Result</dt><dd>" + (w.detected ? "found" : "not found") + "</dd><dt>p-value</dt><dd>" + esc(w.p_value) + "</dd><dt>Payload</dt><dd>" + esc(w.payload_id) + "</dd></dl>" +
    "<h3>Frames</h3>" + state.thumbs.map((t) => "<img alt='frame' src='data:image/jpeg;base64," + t.jpeg_base64 + "'>").join("") +
    "<p><small>kinoseal " + esc(r.kinoseal_version) + " · generated " + esc(new Date().toISOString()) + "</small></p></body></html>";
}

async function init() {
  const saved = sessionStorage.getItem("kinoseal-key");
  if (saved) $("apikey").value = saved;
  $("apikey").addEventListener("change", () => sessionStorage.setItem("kinoseal-key", $("apikey").value.trim()));
  $("file").addEventListener("change", (e) => handleFile(e.target.files[0]));
  const drop = $("drop");
  for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  drop.addEventListener("drop", (e) => handleFile(e.dataTransfer.files[0]));
  $("dl-json").addEventListener("click", () => download(state.report.file + ".report.json", "application/json", JSON.stringify(state.report, null, 2)));
  $("dl-html").addEventListener("click", () => download(state.report.file + ".report.html", "text/html", htmlReport(state.report)));
  $("print").addEventListener("click", () => window.print());
  $("again").addEventListener("click", () => { $("result").classList.add("hidden"); $("drop").scrollIntoView(); $("file").click(); });
  try {
    state.config = (await api("/v1/config")).body;
    if (!state.config.public_verify) $("keybox").classList.remove("hidden");
    $("limits").textContent = "Up to " + Math.round(state.config.max_upload_bytes / 1048576) + " MiB and " + Math.round(state.config.max_duration_s / 60) + " minutes.";
    $("version").textContent = "kinoseal " + state.config.version;
  } catch (e) { /* the page still works */ }
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", init);
