// gpuplane's live page: polls /api/view and redraws the packing map, tenants, replicas and
// decisions. Every value from the service goes in as text (textContent), never as markup.
"use strict";

const REFRESH_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const CELL_W = 80, CELL_H = 36, GAP = 4, LABEL_H = 14, NODE_GAP = 14;
let lastEtag = null;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function tenantColor(tenant) {
  let h = 0;
  for (const c of tenant) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${h % 360}, 62%, 52%)`;
}

const gib = (mib) => (mib / 1024).toFixed(1);
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const fmt = (x) => (x === null || x === undefined ? "–" : Number.isInteger(x) ? String(x) : x.toFixed(2));

function table(headers, rows, numeric = new Set()) {
  const t = el("table");
  const head = el("tr");
  headers.forEach((h) => head.appendChild(el("th", {}, h)));
  t.appendChild(head);
  for (const row of rows) {
    const tr = el("tr");
    row.forEach((cell, i) => {
      const td = el("td", numeric.has(i) ? { class: "num" } : {});
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
      tr.appendChild(td);
    });
    t.appendChild(tr);
  }
  return t;
}

function renderSummary(view) {
  const s = view.cluster.summary, box = document.getElementById("summary");
  box.replaceChildren();
  const cards = [
    ["nodes", s.nodes], ["GPUs", `${s.healthy_gpus}/${s.gpus} healthy`], ["workloads", s.workloads],
    ["memory", `${gib(s.memory_used_mib)}/${gib(s.memory_total_mib)} GiB`],
    ["external", `${gib(s.memory_external_mib)} GiB`], ["allocation", pct(s.allocation_ratio)],
    ["fragmentation", pct(s.fragmentation_ratio)], ["policy", view.cluster.policy],
  ];
  for (const [label, value] of cards) {
    const c = el("div", { class: "card" }, label);
    c.appendChild(el("b", {}, String(value)));
    box.appendChild(c);
  }
  document.getElementById("server").textContent = view.cluster.inventory_source;
}

function gpuCell(cell, x, y) {
  const gpu = cell.gpu;
  const g = svgEl("g", { class: gpu.healthy ? "gpu" : "gpu drained", "data-gpu": gpu.id,
    transform: `translate(${x},${y})` });
  const title = svgEl("title");
  title.textContent = `${gpu.id} ${gpu.model} ${gpu.healthy ? "ok" : "DRAINED"}: ` +
    `${gib(gpu.memory_used_mib)}/${gib(gpu.memory_total_mib)} GiB placed, ` +
    `${gib(gpu.memory_external_mib)} GiB external, compute ${gpu.compute_used_milli}/${gpu.compute_total_milli}`;
  g.appendChild(title);
  const memH = CELL_H - 6, scale = CELL_W / Math.max(gpu.memory_total_mib, 1);
  g.appendChild(svgEl("rect", { class: "free", x: 0, y: 0, width: CELL_W, height: memH }));
  let at = 0;
  for (const share of cell.shares) {
    const w = share.memory_mib * scale;
    const seg = svgEl("rect", { class: "seg", x: at, y: 0, width: w, height: memH,
      fill: tenantColor(share.tenant), "data-workload": share.workload, "data-tenant": share.tenant });
    const t = svgEl("title");
    t.textContent = `${share.workload} (${share.tenant}): ${gib(share.memory_mib)} GiB, ${share.compute_milli} milli`;
    seg.appendChild(t);
    g.appendChild(seg);
    at += w;
  }
  const ext = gpu.memory_external_mib * scale;
  if (ext > 0) g.appendChild(svgEl("rect", { class: "ext", x: CELL_W - ext, y: 0, width: ext, height: memH }));
  const cw = CELL_W * gpu.compute_used_milli / Math.max(gpu.compute_total_milli, 1);
  g.appendChild(svgEl("rect", { class: "compute-free", x: 0, y: memH + 2, width: CELL_W, height: 4 }));
  g.appendChild(svgEl("rect", { class: "compute-used", x: 0, y: memH + 2, width: cw, height: 4 }));
  g.appendChild(svgEl("rect", { class: "gpu-frame", x: 0, y: 0, width: CELL_W, height: CELL_H }));
  return g;
}

function renderMap(view) {
  const box = document.getElementById("map");
  const perNode = Math.max(1, ...view.cluster.nodes.map((n) => n.gpus.length));
  const nodeW = perNode * (CELL_W + GAP) + NODE_GAP;
  const cols = Math.max(1, Math.floor((box.clientWidth || 1200) / nodeW));
  const nodeH = LABEL_H + CELL_H + NODE_GAP;
  const rows = Math.ceil(view.cluster.nodes.length / cols);
  const svg = svgEl("svg", { width: cols * nodeW, height: rows * nodeH, role: "img",
    "aria-label": "packing map" });
  view.cluster.nodes.forEach((node, i) => {
    const x0 = (i % cols) * nodeW, y0 = Math.floor(i / cols) * nodeH;
    const label = svgEl("text", { class: "node-label", x: x0, y: y0 + LABEL_H - 3, "data-node": node.name });
    label.textContent = node.name;
    svg.appendChild(label);
    node.gpus.forEach((cell, j) => svg.appendChild(gpuCell(cell, x0 + j * (CELL_W + GAP), y0 + LABEL_H)));
  });
  box.replaceChildren(svg);
  renderLegend(view);
}

function renderLegend(view) {
  const tenants = new Set();
  view.cluster.nodes.forEach((n) => n.gpus.forEach((c) => c.shares.forEach((s) => tenants.add(s.tenant))));
  const legend = document.getElementById("legend");
  legend.replaceChildren();
  const item = (color, text) => {
    const span = el("span");
    const sw = el("i", { class: "swatch" });
    sw.style.background = color;
    span.append(sw, text);
    legend.appendChild(span);
  };
  [...tenants].sort().forEach((t) => item(tenantColor(t), `tenant ${t}`));
  item("#9ca3af", "external (NVML)");
  item("#f3f4f6", "free");
  item("#4f46e5", "compute");
  const drained = el("span", {}, "red frame: drained");
  legend.appendChild(drained);
}

function quotaBar(r) {
  const top = Math.max(r.held, r.guaranteed, r.deserved, r.fair_share, r.limit ?? 0, 1e-9);
  const bar = el("span", { class: "bar", title: `held ${fmt(r.held)} of fair share ${fmt(r.fair_share)}` });
  const fill = el("i");
  fill.style.width = `${(100 * r.held) / top}%`;
  bar.appendChild(fill);
  const mark = el("s");
  mark.style.left = `${(100 * r.fair_share) / top}%`;
  bar.appendChild(mark);
  return bar;
}

function renderTenants(view) {
  const box = document.getElementById("tenants");
  if (view.tenants === null) { box.replaceChildren(el("p", { class: "muted" }, "admin token needed")); return; }
  const rows = [];
  for (const t of view.tenants) {
    const base = [t.name, t.parent || "–", t.placed_workloads, t.placed_gpus, t.admitted, t.queued];
    if (!t.resources.length) rows.push([...base, "–", "", "", "", "", "", ""]);
    t.resources.forEach((r, i) => rows.push([...(i ? ["", "", "", "", "", ""] : base), r.resource,
      fmt(r.held), fmt(r.guaranteed), fmt(r.deserved), fmt(r.limit), fmt(r.fair_share), quotaBar(r)]));
  }
  box.replaceChildren(table(["tenant", "parent", "workloads", "GPUs placed", "admitted", "queued", "resource",
    "held", "guaranteed", "deserved", "limit", "fair share", "held vs fair"], rows,
    new Set([2, 3, 4, 5, 7, 8, 9, 10, 11])));
}

function renderReplicas(view) {
  const box = document.getElementById("replicas");
  if (view.replicas === null) { box.replaceChildren(el("p", { class: "muted" }, "admin token needed")); return; }
  if (!view.replicas.length) { box.replaceChildren(el("p", { class: "muted" }, "no replicas registered")); return; }
  const kv = (x) => { const b = quotaBar({ held: x, guaranteed: 0, deserved: 0, fair_share: 1, limit: 1 });
    b.title = `KV ${pct(x)}`; return b; };
  const rows = view.replicas.map((r) => [r.id, r.model || "–", r.tenant || "shared", r.waiting, r.running,
    pct(r.kv_usage), kv(r.kv_usage), `${pct(r.routing_share)} (${r.routed})`]);
  box.replaceChildren(table(["replica", "model", "tenant", "waiting", "running", "KV", "", "routing share"],
    rows, new Set([3, 4, 5, 7])));
}

function renderDecisions(view) {
  const rows = view.decisions.map((d) => [new Date(d.at * 1000).toLocaleTimeString(),
    el("span", { class: `kind-${d.kind}` }, d.kind), d.subject || "–", d.tenant || "–",
    [d.node, d.gpus.join(" ")].filter(Boolean).join(" ") || "–", d.reason || "–"]);
  const box = document.getElementById("decisions");
  if (!rows.length) { box.replaceChildren(el("p", { class: "muted" }, "no decisions yet")); return; }
  box.replaceChildren(table(["time", "decision", "workload / request", "tenant", "where", "reason"], rows));
}

async function refresh() {
  try {
    const r = await fetch("/api/view", { cache: "no-cache", credentials: "same-origin" });
    if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
    const etag = r.headers.get("ETag");
    if (etag === null || etag !== lastEtag) {
      const view = await r.json();
      renderSummary(view); renderMap(view); renderTenants(view); renderReplicas(view); renderDecisions(view);
      lastEtag = etag;
    }
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    document.getElementById("updated").textContent = `not updated: ${e.message}`;
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
