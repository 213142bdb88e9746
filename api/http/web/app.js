// kinoseal web page: upload a clip, verify it through the API, show the report.
// No framework, no CDN; everything is built with DOM calls (no innerHTML of report data).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { config: null, report: null, thumbs: [], manifest: null };

const W = KinoWords;

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
const facts = (dl, pairs) => { dl.replaceChildren(); for (const [k, v] of pairs) fact(dl, k, v); };

function ingredientTree(items) {
  if (!items || !items.length) return el("p", { class: "none", text: "No ingredients: this is the first manifest of the clip." });
  const ul = el("ul");
  for (const ing of items) {
    const bits = [ing.title || "untitled", ing.relationship ? " · " + ing.relationship : ""];
    if (ing.digital_source_type) bits.push(" · " + W.describeType(ing.digital_source_type));
    if (ing.signer && ing.signer.common_name) bits.push(" · signed by " + ing.signer.common_name);
    const li = el("li", {}, bits.join(""));
    if (ing.failure_codes && ing.failure_codes.length) li.append(el("div", { class: "bad", text: "problems: " + ing.failure_codes.join(", ") }));
    if (ing.ingredients && ing.ingredients.length) li.append(ingredientTree(ing.ingredients));
    ul.append(li);
  }
  return ul;
}

function actionText(a) {
  const sa = a.softwareAgent;
  const agent = sa ? (typeof sa === "string" ? sa : [sa.name, sa.version].filter(Boolean).join(" ")) : "";
  return [a.action, agent && "by " + agent, W.fmtTime(a.when), a.description].filter(Boolean).join(" · ");
}

function render(r) {
  $("error").classList.add("hidden");
  const card = $("verdict");
  const extent = W.extentLabel(r);
  card.className = "card verdict v-" + r.verdict + (extent ? " extent-" + W.aiExtent(r) : "");
  $("verdict-label").textContent = r.verdict_label;
  $("ai-extent").textContent = extent || "";
  $("ai-extent").classList.toggle("hidden", !extent);
  $("verdict-words").textContent = W.headline(r);
  const why = W.reason(r);
  $("reason-text").textContent = why;
  $("reason").classList.toggle("hidden", !why);
  $("file-name").textContent = r.file;
  $("confidence").textContent = W.fmtConfidence(r.confidence);
  $("sha256").textContent = r.sha256 || "";

  $("evidence").replaceChildren(...(r.evidence || []).map((e) => el("li", { text: e })));
  $("notes").replaceChildren(...(r.notes || []).map((n) => el("li", { text: "note: " + n })));

  const c = r.c2pa || {};
  facts($("c2pa"), W.c2paFacts(r));
  const disc = W.disclosures(r);
  $("disclosure").replaceChildren(...disc.map((d) => el("li", { text: d })));
  $("disclosure-box").classList.toggle("hidden", !disc.length);
  $("actions").replaceChildren(...(c.present ? (c.actions || []).map((a) => el("li", { text: actionText(a) })) : []));
  $("ingredients").replaceChildren(c.present ? ingredientTree(c.ingredients) : el("p", { class: "none", text: "—" }));

  facts($("watermark"), W.watermarkFacts(r));
  const prov = $("provenance"); prov.replaceChildren();
  const pf = W.provenanceFacts(r, state.manifest);
  if (pf.length) {
    const pdl = el("dl", { class: "facts" });
    facts(pdl, pf);
    prov.append(el("h4", { text: "Original Content Credentials (from the watermark)" }), pdl);
  }


  const k = r.classifier || {};
  $("plot-note").textContent = k.available ? (k.model ? "Classifier " + k.model + (k.note ? ", " + k.note : "") + "." : "")
    : "Classifier: " + (k.note || "not available") + ".";
  // The model's own plain sentences (most AI-like moment, closest generator family or "unknown
  // family"): hints for a reader, never proof on their own.
  const family = k.available && k.family_confidence != null  // only models that attribute
    ? ["Closest known generator family: " + (k.family ? k.family + " (" + Math.round(k.family_confidence * 100) + "%)"
        : "unknown family") + " (a hint, not proof)."] : [];
  $("classifier-lines").replaceChildren(...[...(k.explanation || []), ...family].map((t) => el("li", { text: t })));
  $("thumbs").replaceChildren(...state.thumbs.map((t) => el("figure", {},
    el("img", { src: "data:image/jpeg;base64," + t.jpeg_base64, alt: "frame " + t.index, width: t.width, height: t.height }),
    el("figcaption", { text: "frame " + t.index + " · " + t.time.toFixed(2) + " s" }))));
  $("result").classList.remove("hidden");
  // Drawn once the box has its width, at 1:1 scale (readable labels on a phone too).
  $("plot").replaceChildren(KinoPlot.scorePlot(r, Math.min(900, $("plot").clientWidth)));
  $("verdict-label").focus();
}

function download(name, type, text) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a); a.click(); a.remove();
}

function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

// The standalone HTML report is the rendered result itself (same words, colours, numbers and
// plot as the page), without the buttons, with the page's stylesheet inlined.
async function htmlReport(r) {
  let css = "";
  try { css = await (await fetch("/static/app.css")).text(); } catch (e) { /* the report still reads without it */ }
  const body = $("result").cloneNode(true);
  body.removeAttribute("id");
  body.classList.remove("hidden");
  for (const x of body.querySelectorAll(".actions, #again")) x.remove();
  for (const x of body.querySelectorAll("[id]")) x.removeAttribute("id");
  return "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>" +
    "<title>kinoseal report: " + esc(r.file) + "</title><style>" + css + "</style></head><body class='report'>" +
    "<header class='top'><h1>Provenance report</h1><p class='lead'>" + esc(r.file) + " · checked " +
    esc(W.fmtTime(new Date().toISOString())) + " by kinoseal " + esc(r.kinoseal_version) + "</p></header><main>" +
    body.outerHTML + "</main></body></html>";
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
  $("dl-html").addEventListener("click", async () => download(state.report.file + ".report.html", "text/html", await htmlReport(state.report)));
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
