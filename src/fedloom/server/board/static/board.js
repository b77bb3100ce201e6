/* fedloom board: draws each page from the JSON under /board/api (no framework, no network
   beyond this server). Charts: uPlot (vendored) for curves, hand-made SVG for bars, the
   confusion matrix and trees. Every drawn chart gets data-points=<n> once it is on screen. */
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children || []) node.append(c);
  return node;
}

function svg(tag, attrs, children) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children || []) node.append(c);
  return node;
}

async function api(path) {
  const resp = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (resp.status === 401) {
    window.location.href = "/board/login";
    throw new Error("unauthorized");
  }
  if (!resp.ok) {
    let msg = resp.statusText;
    try { msg = (await resp.json()).detail || msg; } catch (e) { /* not JSON */ }
    throw new Error(`${resp.status}: ${msg}`);
  }
  return resp.json();
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "";
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function fmtBytes(b) {
  if (b === null || b === undefined) return "";
  if (b < 1024) return `${b} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = b, i = -1;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

function fmtValue(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, "");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function showError(where, err) {
  where.replaceChildren(el("p", { class: "error", text: String(err.message || err) }));
}

/* ------------------------------------------------------------------ jobs list */
async function jobsPage() {
  const body = document.getElementById("jobs-body");
  const search = document.querySelector('[data-testid="job-search"]');
  const filter = document.querySelector('[data-testid="state-filter"]');
  const params = new URLSearchParams(window.location.search);
  if (params.get("state")) filter.value = params.get("state");
  if (params.get("q")) search.value = params.get("q");
  let jobs = [];

  function render() {
    const q = search.value.trim().toLowerCase();
    const st = filter.value;
    const shown = jobs.filter((j) => (!st || j.status === st) &&
      (!q || j.job_id.toLowerCase().includes(q) || (j.initiator || "").toLowerCase().includes(q)));
    body.replaceChildren(...shown.map((j) => {
      const roles = Object.entries(j.roles || {}).map(([r, ids]) => `${r}: ${ids.join(", ")}`).join("; ");
      const link = el("a", { href: `/board/jobs/${encodeURIComponent(j.job_id)}`, class: "mono", text: j.job_id });
      return el("tr", { "data-testid": "job-row", "data-job-id": j.job_id, "data-state": j.status }, [
        el("td", {}, [link]),
        el("td", {}, [el("span", { class: `st ${j.status}`, text: j.status + (j.status === "running" ? ` ${j.progress}%` : "") })]),
        el("td", { text: j.initiator }),
        el("td", { text: roles }),
        el("td", { text: String(j.components) }),
        el("td", { text: fmtTime(j.start_time || j.create_time) }),
        el("td", { text: fmtDuration(j.elapsed) }),
      ]);
    }));
    document.getElementById("job-count").textContent = `${shown.length} of ${jobs.length}`;
    document.getElementById("jobs-empty").hidden = shown.length > 0;
  }

  async function load() {
    try {
      jobs = (await api("/board/api/jobs?limit=500")).jobs;
      render();
    } catch (e) { showError(document.getElementById("jobs-empty"), e); document.getElementById("jobs-empty").hidden = false; }
  }
  search.addEventListener("input", render);
  filter.addEventListener("change", render);
  await load();
  setInterval(() => { if (!document.hidden) load(); }, 3000);
}

/* ------------------------------------------------------------------ job page */
function failureBlock(f, jobId, withLogLink) {
  const logs = `/board/jobs/${encodeURIComponent(jobId)}/logs?party=${encodeURIComponent(f.party_key || "")}`;
  const kids = [
    el("h2", { text: "Job failed" }),
    el("dl", {}, [
      el("dt", { text: "Party" }), el("dd", { "data-testid": "failure-party", class: "mono", text: f.party || "?" }),
      el("dt", { text: "Component" }), el("dd", { "data-testid": "failure-component", class: "mono", text: f.component || "(before any component)" }),
      el("dt", { text: "Reason" }), el("dd", { "data-testid": "failure-reason", text: f.reason || f.message || "" }),
    ]),
  ];
  if (f.traceback_tail) kids.push(el("pre", { "data-testid": "failure-traceback", class: "traceback", text: f.traceback_tail }));
  if (withLogLink) kids.push(el("p", {}, [el("a", { href: logs, "data-testid": "failure-logs-link", text: `Open ${f.party || "the party"}'s log at the error →` })]));
  return el("div", { "data-testid": "failure", class: "failure" }, kids);
}

const NODE_W = 170, NODE_H = 46, GAP_X = 60, GAP_Y = 22, PAD = 16, BAND_GAP = 44;

/* Layers are columns, left to right. When there are more layers than fit the card's width, the
   columns wrap into bands (rows) in a snake: band 0 runs left to right, band 1 right to left, ...
   so the DAG never scrolls sideways and consecutive layers stay next to each other. */
function dagColumns(root, nLayers) {
  const avail = (root.parentElement && root.parentElement.clientWidth) || 0;
  if (!avail) return nLayers;
  return Math.max(1, Math.min(nLayers, Math.floor((avail - PAD * 2 + GAP_X) / (NODE_W + GAP_X))));
}

function edgePath(a, b) {
  if (a.band === b.band) { // same band: side to side, in the band's direction
    const fwd = b.x >= a.x;
    const x1 = fwd ? a.x + NODE_W : a.x, x2 = fwd ? b.x : b.x + NODE_W;
    const y1 = a.y + NODE_H / 2, y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    return `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`;
  }
  // into a later band: bottom to top
  const x1 = a.x + NODE_W / 2, y1 = a.y + NODE_H, x2 = b.x + NODE_W / 2, y2 = b.y;
  const my = (y1 + y2) / 2;
  return `M ${x1} ${y1} C ${x1} ${my}, ${x2} ${my}, ${x2} ${y2}`;
}

function drawDag(root, dag, jobId) {
  const layers = new Map();
  for (const n of dag.nodes) {
    if (!layers.has(n.layer)) layers.set(n.layer, []);
    layers.get(n.layer).push(n);
  }
  const nLayers = Math.max(1, ...[...layers.keys()].map((k) => k + 1));
  const cols = dagColumns(root, nLayers);
  const nBands = Math.ceil(nLayers / cols);
  const maxRows = Math.max(1, ...[...layers.values()].map((ns) => ns.length));
  const bandH = maxRows * NODE_H + (maxRows - 1) * GAP_Y;
  const pos = new Map();
  for (const [layer, nodes] of layers) {
    const band = Math.floor(layer / cols);
    const c = band % 2 === 0 ? layer % cols : cols - 1 - (layer % cols);
    nodes.forEach((n, i) => pos.set(n.name, {
      band, x: PAD + c * (NODE_W + GAP_X), y: PAD + band * (bandH + BAND_GAP) + i * (NODE_H + GAP_Y),
    }));
  }
  const width = PAD * 2 + cols * NODE_W + (cols - 1) * GAP_X;
  const height = PAD * 2 + nBands * bandH + (nBands - 1) * BAND_GAP;
  const existing = new Map([...root.querySelectorAll('[data-testid="dag-node"]')].map((g) => [g.getAttribute("data-component"), g]));
  const sameShape = existing.size === dag.nodes.length && dag.nodes.every((n) => existing.has(n.name)) &&
    root.getAttribute("data-cols") === String(cols);
  if (sameShape) { // live update: only states change, the drawing stays (no flicker, no reload)
    for (const n of dag.nodes) {
      const g = existing.get(n.name);
      g.setAttribute("data-state", n.state);
      g.setAttribute("class", `node ${n.state}`);
      g.querySelector("title").textContent = nodeTitle(n);
      g.querySelector(".sub").textContent = nodeSub(n);
    }
    return;
  }
  root.replaceChildren();
  root.setAttribute("data-cols", String(cols));
  root.setAttribute("width", width);
  root.setAttribute("height", height);
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  root.append(svg("defs", {}, [svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, [svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" })])]));
  for (const e of dag.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    root.append(svg("path", {
      d: edgePath(a, b),
      class: `edge ${e.kind}`, "data-testid": "dag-edge", "data-kind": e.kind, "data-from": e.from, "data-to": e.to,
      "marker-end": "url(#arrow)",
    }, [svg("title", { text: `${e.from} → ${e.to} (${e.kind}: ${e.slot})` })]));
  }
  for (const n of dag.nodes) {
    const p = pos.get(n.name);
    const href = `/board/jobs/${encodeURIComponent(jobId)}/components/${encodeURIComponent(n.name)}`;
    const g = svg("g", { "data-testid": "dag-node", "data-component": n.name, "data-state": n.state, class: `node ${n.state}`, transform: `translate(${p.x},${p.y})` }, [
      svg("title", { text: nodeTitle(n) }),
      svg("rect", { width: NODE_W, height: NODE_H, rx: 7 }),
      svg("text", { x: 10, y: 19, class: "name", text: n.name }),
      svg("text", { x: 10, y: 36, class: "sub", text: nodeSub(n) }),
    ]);
    root.append(svg("a", { href }, [g]));
  }
}

function nodeTitle(n) {
  return `${n.name} (${n.module}): ${n.state}\n` + Object.entries(n.states).map(([p, s]) => `${p}: ${s}`).join("\n");
}

function nodeSub(n) {
  const parties = Object.entries(n.states);
  const short = parties.map(([p, s]) => `${p.split("-")[0][0]}${s === "success" ? "✓" : s === "failed" ? "✗" : s === "running" ? "…" : "·"}`).join(" ");
  return `${n.module} ${short}`;
}

function drawTasks(body, tasks, jobId) {
  body.replaceChildren(...tasks.map((t) => {
    const href = `/board/jobs/${encodeURIComponent(jobId)}/components/${encodeURIComponent(t.component)}?party=${encodeURIComponent(t.party)}`;
    return el("tr", { "data-testid": "task-row", "data-component": t.component, "data-party": t.party, "data-state": t.state }, [
      el("td", {}, [el("a", { href, class: "mono", text: t.component })]),
      el("td", { text: t.module }),
      el("td", { class: "mono", text: t.party }),
      el("td", {}, [el("span", { class: `st ${t.state}`, text: t.skipped ? "skipped" : t.state })]),
      el("td", { text: fmtTime(t.start_time) }),
      el("td", { text: t.seconds === null || t.seconds === undefined ? "" : `${Number(t.seconds).toFixed(2)} s` }),
      el("td", { class: "num", text: fmtValue(t.rows_in) }),
      el("td", { class: "num", text: fmtValue(t.rows_out) }),
      el("td", { class: "num", text: fmtBytes(t.sent_bytes) }),
      el("td", { class: "num", text: fmtBytes(t.received_bytes) }),
      el("td", { class: "note", text: t.error ? t.error.split("\n")[0] : (t.note || "") }),
    ]);
  }));
}

function drawPrivacy(root, privacy) {
  if (!privacy.length) { root.replaceChildren(el("p", { class: "muted", text: "No parties." })); return; }
  root.replaceChildren(...privacy.map((p) => el("div", { "data-testid": "privacy", "data-party": p.party, class: "privacy" }, [
    el("h3", { class: "mono", text: p.party }),
    el("p", { text: p.available ? `${p.messages} messages on ${p.channels} channels (${fmtBytes(p.bytes)})` : "no ledger yet (written when the party ends)" }),
    p.summary ? el("p", { class: "summary", text: p.summary }) : el("span"),
    p.disclosures.length ? el("details", {}, [el("summary", { text: "What it learnt in clear, per channel" }),
      el("table", { class: "grid" }, [el("thead", {}, [el("tr", {}, ["component", "channel", "from", "disclosure", "messages", "bytes"].map((h) => el("th", { text: h })))]),
        el("tbody", {}, p.received.map((r) => el("tr", {}, [r.component, r.channel, r.from, r.disclosure, fmtValue(r.messages), fmtBytes(r.bytes)].map((v) => el("td", { text: v })))))])]) : el("span"),
  ])));
}

async function jobPage() {
  const jobId = document.body.dataset.jobId;
  const dag = document.getElementById("dag");
  let timer = null;
  async function tick() {
    let d;
    try {
      d = await api(`/board/api/jobs/${encodeURIComponent(jobId)}`);
    } catch (e) { showError(document.getElementById("failure-slot"), e); return; }
    const st = document.getElementById("job-state");
    st.textContent = d.job.status + (d.job.status === "running" ? ` ${d.job.progress}%` : "");
    st.className = `state st ${d.job.status}`;
    st.setAttribute("data-testid", "job-state");
    st.setAttribute("data-state", d.job.status);
    document.getElementById("job-meta").textContent =
      `initiator ${d.job.initiator} · started ${fmtTime(d.job.start_time)} · ${fmtDuration(d.job.elapsed)}`;
    const slot = document.getElementById("failure-slot");
    if (d.failure && !slot.querySelector('[data-testid="failure"]')) slot.replaceChildren(failureBlock(d.failure, jobId, true));
    drawDag(dag, d.dag, jobId);
    lastDag = d.dag;
    drawTasks(document.getElementById("tasks-body"), d.tasks, jobId);
    drawPrivacy(document.getElementById("privacy-body"), d.privacy);
    document.body.setAttribute("data-loaded", "true");
    if (d.final && timer) { clearInterval(timer); timer = null; }
    return d;
  }
  let lastDag = null;
  window.addEventListener("resize", () => { if (lastDag) drawDag(dag, lastDag, jobId); });
  const first = await tick();
  if (first && !first.final) timer = setInterval(() => { tick(); }, 1000);
}

/* ------------------------------------------------------------------ charts */
const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

function chartBox(parent, testid, title, note) {
  const box = el("figure", { class: "chart", "data-testid": `chart-${testid}` }, [el("figcaption", { text: title })]);
  if (note) box.append(el("p", { class: "muted small", text: note }));
  parent.append(box);
  return box;
}

/* lines: [{name, x:[], y:[]}]; series of different x merged into one table (null elsewhere) */
function lineChart(box, lines, opts) {
  const rows = [];
  lines.forEach((s, si) => s.x.forEach((x, i) => rows.push([x, si, s.y[i]])));
  rows.sort((a, b) => a[0] - b[0]);
  const data = [rows.map((r) => r[0])];
  lines.forEach((_, si) => data.push(rows.map((r) => (r[1] === si ? r[2] : null))));
  const series = [{ label: opts.xLabel }].concat(lines.map((s, si) => ({
    label: s.name, stroke: s.color || PALETTE[si % PALETTE.length], width: 2, spanGaps: true,
    points: { show: !!opts.scatter, size: 4 }, paths: opts.scatter ? () => null : undefined,
  })));
  const width = Math.max(320, Math.min(560, box.parentElement.clientWidth - 20));
  // eslint-disable-next-line no-undef
  new uPlot({
    width, height: 280, series,
    scales: { x: { time: false, ...(opts.xRange ? { range: opts.xRange } : {}) }, ...(opts.yRange ? { y: { range: opts.yRange } } : {}) },
    axes: [{ label: opts.xLabel }, { label: opts.yLabel }],
    legend: { show: true },
  }, data, box);
  box.setAttribute("data-points", String(rows.length));
}

function barChart(box, labels, values, opts) {
  const n = Math.min(labels.length, opts.max || 40);
  const rowH = 18, left = 140, w = 520, h = n * rowH + 24;
  const maxV = Math.max(1e-12, ...values.slice(0, n).map((v) => Math.abs(v)));
  const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, class: "bars" });
  for (let i = 0; i < n; i++) {
    const bw = Math.max(1, (Math.abs(values[i]) / maxV) * (w - left - 70));
    s.append(svg("text", { x: left - 6, y: 14 + i * rowH, "text-anchor": "end", class: "label", text: labels[i] }));
    s.append(svg("rect", { x: left, y: 3 + i * rowH, width: bw, height: rowH - 5, class: "bar" }, [svg("title", { text: `${labels[i]}: ${fmtValue(values[i])}` })]));
    s.append(svg("text", { x: left + bw + 4, y: 14 + i * rowH, class: "value", text: fmtValue(values[i]) }));
  }
  box.append(s);
  if (labels.length > n) box.append(el("p", { class: "muted small", text: `top ${n} of ${labels.length}` }));
  box.setAttribute("data-points", String(n));
}

function confusionChart(box, cm) {
  const k = cm.labels.length, cell = Math.max(28, Math.min(60, 360 / Math.max(1, k))), left = 70, top = 40;
  const w = left + k * cell + 10, h = top + k * cell + 10;
  const maxV = Math.max(1, ...cm.matrix.flat());
  const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, class: "confusion" });
  s.append(svg("text", { x: left, y: 12, class: "label", text: "predicted →" }));
  s.append(svg("text", { x: 4, y: top - 6, class: "label", text: "actual ↓" }));
  cm.labels.forEach((lab, i) => {
    s.append(svg("text", { x: left + i * cell + cell / 2, y: top - 6, "text-anchor": "middle", class: "label", text: lab }));
    s.append(svg("text", { x: left - 6, y: top + i * cell + cell / 2 + 4, "text-anchor": "end", class: "label", text: lab }));
  });
  let points = 0;
  cm.matrix.forEach((row, i) => row.forEach((v, j) => {
    const a = 0.08 + 0.9 * (v / maxV);
    s.append(svg("rect", { x: left + j * cell, y: top + i * cell, width: cell - 2, height: cell - 2, fill: `rgba(37,99,235,${a.toFixed(3)})` }, [svg("title", { text: `actual ${cm.labels[i]}, predicted ${cm.labels[j]}: ${v}` })]));
    s.append(svg("text", { x: left + j * cell + cell / 2 - 1, y: top + i * cell + cell / 2 + 4, "text-anchor": "middle", class: a > 0.55 ? "value light" : "value", text: String(v) }));
    points++;
  }));
  box.append(s);
  box.setAttribute("data-points", String(points));
}

function treeChart(box, tr) {
  const sel = el("select", { "data-testid": "tree-select" }, tr.trees.map((t, i) => el("option", { value: String(i), text: `tree ${i}${t.class_index !== null && t.class_index !== undefined ? ` (class ${t.class_index})` : ""}` })));
  const holder = el("div", { class: "tree-holder" });
  box.append(el("p", {}, [sel, el("span", { class: "muted small", text: ` ${tr.total} tree(s)` })]), holder);
  function draw(i) {
    const nodes = tr.trees[i].nodes;
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const root = nodes.find((n) => n.depth === 0) || nodes[0];
    const pos = new Map();
    let leafX = 0, maxDepth = 0;
    (function place(n) { // leaves left to right, a parent centred over its children
      maxDepth = Math.max(maxDepth, n.depth);
      const kids = [n.left, n.right].filter((c) => c !== null && c !== undefined && byId.has(c)).map((c) => byId.get(c));
      if (!kids.length || n.is_leaf) { pos.set(n.id, { x: leafX++, d: n.depth }); return; }
      kids.forEach(place);
      pos.set(n.id, { x: (pos.get(kids[0].id).x + pos.get(kids[kids.length - 1].id).x) / 2, d: n.depth });
    })(root);
    const cw = 96, ch = 64, w = Math.max(200, leafX * cw + 20), h = (maxDepth + 1) * ch + 20;
    const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, class: "tree" });
    const at = (id) => ({ x: 10 + pos.get(id).x * cw + cw / 2, y: 14 + pos.get(id).d * ch });
    for (const n of nodes) {
      if (!pos.has(n.id)) continue;
      for (const c of [n.left, n.right]) if (c !== null && c !== undefined && pos.has(c)) {
        const a = at(n.id), b = at(c);
        s.append(svg("line", { x1: a.x, y1: a.y + 14, x2: b.x, y2: b.y - 2, class: "tree-edge" }));
      }
    }
    for (const n of nodes) {
      if (!pos.has(n.id)) continue;
      const p = at(n.id);
      const label = n.is_leaf ? `w=${(n.weight || []).map((v) => fmtValue(v)).join(",")}`
        : `${n.owner === "guest" ? "" : n.owner + ":"}f${n.feature ?? "?"}${n.threshold !== null && n.threshold !== undefined ? " ≤ " + fmtValue(n.threshold) : ""}`;
      s.append(svg("g", { class: n.is_leaf ? "tnode leaf" : "tnode" }, [
        svg("rect", { x: p.x - cw / 2 + 4, y: p.y - 2, width: cw - 8, height: 18, rx: 4 }),
        svg("text", { x: p.x, y: p.y + 11, "text-anchor": "middle", text: label }),
        svg("title", { text: JSON.stringify(n) }),
      ]));
    }
    holder.replaceChildren(s);
    box.setAttribute("data-points", String(nodes.length));
  }
  sel.addEventListener("change", () => draw(Number(sel.value)));
  draw(0);
}

function drawCharts(root, charts) {
  root.replaceChildren();
  const c = charts || {};
  const unit = [0, 1];
  if (c.roc) lineChart(chartBox(root, "roc", "ROC"), c.roc.series.concat([{ name: "random", x: [0, 1], y: [0, 1], color: "#9ca3af" }]), { xLabel: "false positive rate", yLabel: "true positive rate", xRange: unit, yRange: unit });
  if (c.ks) {
    const lines = [];
    c.ks.series.forEach((s) => { lines.push({ name: `${s.name} tpr`, x: s.x, y: s.y }); lines.push({ name: `${s.name} fpr`, x: s.x, y: s.y2 }); });
    const ks = c.ks.series[0].ks;
    lineChart(chartBox(root, "ks", "KS", ks !== null && ks !== undefined ? `KS = ${fmtValue(ks)}` : ""), lines, { xLabel: "fraction predicted positive", yLabel: "rate", xRange: unit, yRange: unit });
  }
  if (c.pr) lineChart(chartBox(root, "pr", "Precision-recall"), c.pr.series, { xLabel: "recall", yLabel: "precision", xRange: unit, yRange: unit });
  if (c.lift) lineChart(chartBox(root, "lift", "Lift"), c.lift.series, { xLabel: "fraction predicted positive", yLabel: "lift", xRange: unit });
  if (c.gain) lineChart(chartBox(root, "gain", "Gain"), c.gain.series.concat([{ name: "random", x: [0, 1], y: [0, 1], color: "#9ca3af" }]), { xLabel: "fraction predicted positive", yLabel: "true positive rate", xRange: unit, yRange: unit });
  if (c.loss) lineChart(chartBox(root, "loss", "Loss per iteration", c.loss.from ? `from ${c.loss.from}` : ""), c.loss.series, { xLabel: "iteration", yLabel: "loss" });
  if (c.confusion) confusionChart(chartBox(root, "confusion", `Confusion matrix (${c.confusion.name})`), c.confusion);
  if (c.residuals) lineChart(chartBox(root, "residuals", "Residuals (label − prediction)", `${c.residuals.points} rows`), [{ name: "residual", x: c.residuals.x, y: c.residuals.y }], { xLabel: "prediction", yLabel: "residual", scatter: true });
  if (c.woe_iv) barChart(chartBox(root, "woe-iv", "Information value per column"), c.woe_iv.labels, c.woe_iv.values, {});
  if (c.importance) barChart(chartBox(root, "importance", "Feature importance"), c.importance.labels, c.importance.values, {});
  if (c.tree) {
    const box = el("figure", { class: "chart wide", "data-testid": "tree" }, [el("figcaption", { text: "Trees" })]);
    root.append(box);
    treeChart(box, c.tree);
  }
  document.getElementById("no-charts").hidden = root.children.length > 0;
}

function kvTable(obj, testid) {
  const rows = Object.entries(obj || {}).map(([k, v]) => el("tr", {}, [el("th", { class: "mono", text: k }),
    el("td", {}, [typeof v === "object" && v !== null ? el("pre", { class: "json", text: JSON.stringify(v, null, 1) }) : el("span", { text: fmtValue(v) })])]));
  return el("table", { class: "kv", "data-testid": testid }, [el("tbody", {}, rows)]);
}

async function componentPage() {
  const b = document.body.dataset;
  const select = document.getElementById("party-select");
  async function load(party) {
    let d;
    try {
      d = await api(`/board/api/jobs/${encodeURIComponent(b.jobId)}/components/${encodeURIComponent(b.component)}?party=${encodeURIComponent(party || "")}`);
    } catch (e) { showError(document.getElementById("cpn-error"), e); return; }
    select.replaceChildren(...d.parties.map((p) => el("option", { value: p, text: p })));
    select.value = d.party;
    document.getElementById("cpn-module").textContent = d.module;
    const st = document.getElementById("cpn-state");
    st.textContent = d.state || ""; st.className = `state st ${d.state || ""}`;
    if (d.error) document.getElementById("cpn-error").replaceChildren(el("pre", { class: "traceback", text: d.error }));
    drawCharts(document.getElementById("charts"), d.charts);
    const metrics = document.getElementById("metrics");
    const scal = d.scalars || {};
    const nested = Object.fromEntries(Object.entries(d.metrics || {}).filter(([k]) => !(k in scal) && k !== "plots"));
    metrics.replaceChildren(kvTable(scal, "metrics-table"));
    if (d.metrics && d.metrics.series) {
      for (const [name, s] of Object.entries(d.metrics.series)) {
        const flat = Object.fromEntries(Object.entries(s).filter(([, v]) => typeof v !== "object" || v === null));
        metrics.append(el("h3", { class: "mono", text: name }), kvTable(flat, "metrics-series"));
      }
      delete nested.series;
    }
    if (Object.keys(nested).length) metrics.append(el("details", {}, [el("summary", { text: "More metrics" }), kvTable(nested, "metrics-more")]));
    const params = document.getElementById("params");
    const p = d.params || {};
    params.replaceChildren(
      p.error ? el("p", { class: "error", text: p.error }) : el("span"),
      p.note ? el("p", { class: "muted", text: p.note }) : el("span"),
      kvTable(p.as_run, "params-table"),
      el("details", {}, [el("summary", { text: "As written in the conf (after common → role → party merge, before defaults)" }), el("pre", { class: "json", text: JSON.stringify(p.as_written || {}, null, 1) })]),
    );
    const out = document.getElementById("output-rows");
    const o = d.output;
    out.tHead.replaceChildren(el("tr", {}, (o ? o.header : []).map((h) => el("th", { text: h }))));
    out.tBodies[0].replaceChildren(...(o ? o.rows : []).map((r) => el("tr", {}, r.map((v) => el("td", { text: fmtValue(v) })))));
    document.getElementById("output-total").textContent = o ? `(first ${o.rows.length} of ${o.total} rows)` : "(no output data)";
    document.getElementById("model-summary").textContent = d.model_summary ? JSON.stringify(d.model_summary, null, 1) : "(no model)";
    const url = new URL(window.location.href);
    url.searchParams.set("party", d.party);
    window.history.replaceState(null, "", url);
    document.body.setAttribute("data-loaded", "true");
  }
  select.addEventListener("change", () => load(select.value));
  await load(b.party);
}

/* ------------------------------------------------------------------ logs */
async function logsPage() {
  const jobId = document.body.dataset.jobId;
  const level = document.getElementById("log-level");
  const partySel = document.getElementById("log-party");
  const root = document.getElementById("logs");
  const order = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };
  let d;
  try { d = await api(`/board/api/jobs/${encodeURIComponent(jobId)}/logs`); } catch (e) { showError(root, e); return; }
  partySel.append(...d.parties.map((p) => el("option", { value: p, text: p })));
  // the failure block links here with ?party=<failing party>: open on that party's lines
  const wanted = new URLSearchParams(window.location.search).get("party");
  if (wanted && d.parties.includes(wanted)) partySel.value = wanted;
  const colour = new Map(d.parties.map((p, i) => [p, i % 6]));
  if (d.failure) document.getElementById("failure-slot").replaceChildren(failureBlock(d.failure, jobId, false));
  function render(scroll) {
    const floor = order[level.value] || 0;
    const party = partySel.value;
    const frag = document.createDocumentFragment();
    let target = null, n = 0;
    d.lines.forEach((r, i) => {
      if ((order[r.level] || 20) < floor || (party && r.party !== party)) return;
      const line = el("div", { "data-testid": "log-line", "data-party": r.party, "data-level": r.level, class: `log-line p${colour.get(r.party)} ${r.level}${r.cont ? " cont" : ""}` }, [
        el("span", { class: "party mono", text: r.party }),
        el("span", { class: "time mono", text: r.cont ? "" : r.time }),
        el("span", { class: "lvl", text: r.cont ? "" : r.level }),
        el("span", { class: "msg mono", text: r.text }),
      ]);
      if (i === d.failure_at) { line.setAttribute("data-failure", "true"); line.classList.add("at-failure"); target = line; }
      frag.append(line); n++;
    });
    root.replaceChildren(frag);
    document.getElementById("log-count").textContent = `${n} of ${d.lines.length} lines`;
    if (scroll && target) target.scrollIntoView({ block: "center" });
  }
  level.addEventListener("change", () => render(false));
  partySel.addEventListener("change", () => render(false));
  render(true);
  document.body.setAttribute("data-loaded", "true");
}

const PAGES = { jobs: jobsPage, job: jobPage, component: componentPage, logs: logsPage };
document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[document.body.dataset.page];
  if (page) page();
});
