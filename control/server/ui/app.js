// vswitchd's web view: polls the read-only API once a second and draws the
// topology (networks, endpoints, system ports, the uplink), each link
// labelled with its live rate and impairments. No framework, no build step.
"use strict";

const api = (path, opts) => fetch("../v1/" + path, opts).then(r => {
  if (!r.ok) return r.json().then(e => Promise.reject(new Error(e.message || r.statusText)), () => Promise.reject(new Error(r.statusText)));
  return r.status === 204 ? null : r.json();
});
const NS = "http://www.w3.org/2000/svg";
let prev = null; // {t, ports: name → counters}
let rates = {};  // port name → {fps, bps}

function el(tag, attrs, parent, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function human(n, unit) {
  const u = ["", "k", "M", "G", "T"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + " " + u[i] + unit;
}

async function poll() {
  try {
    const [nets, eps, ports, stats, links, ct, labs, uplink] = await Promise.all([
      api("networks"), api("endpoints"), api("ports"), api("stats"), api("links"),
      api("conntrack/count"), api("labs"), api("uplink").catch(() => null),
    ]);
    const now = performance.now();
    const cur = {};
    let total = 0, fps = 0;
    for (const p of ports) {
      cur[p.name] = p;
      total += p.rx_frames;
    }
    if (prev) {
      const dt = (now - prev.t) / 1000;
      rates = {};
      for (const p of ports) {
        const q = prev.ports[p.name];
        if (!q || dt <= 0) continue;
        const f = Math.max(0, (p.rx_frames + p.tx_frames - q.rx_frames - q.tx_frames) / dt);
        const b = Math.max(0, (p.rx_bytes + p.tx_bytes - q.rx_bytes - q.tx_bytes) * 8 / dt);
        rates[p.name] = {fps: f, bps: b};
        fps += Math.max(0, (p.rx_frames - q.rx_frames) / dt);
      }
    }
    prev = {t: now, ports: cur};
    document.getElementById("total-frames").textContent = total;
    document.getElementById("total-rate").textContent = human(fps, "frames/s");
    document.getElementById("fdb-size").textContent = (stats.fdb.entries || 0) + " MACs";
    document.getElementById("conntrack-size").textContent = ct.count + " / " + ct.max;
    document.getElementById("labs").textContent = labs.map(l => l.name).join(", ") || "-";
    const drops = document.getElementById("drops");
    drops.replaceChildren();
    const reasons = Object.keys(stats.drops).sort();
    if (!reasons.length) drops.innerHTML = "<tr><td>none</td></tr>";
    for (const r of reasons) {
      const tr = document.createElement("tr");
      tr.innerHTML = "<th></th><td></td>";
      tr.children[0].textContent = r;
      tr.children[1].textContent = stats.drops[r];
      tr.dataset.reason = r;
      drops.appendChild(tr);
    }
    const impaired = {};
    for (const l of links) impaired[l.port] = l;
    draw(nets, eps, ports, impaired, uplink);
    const st = document.getElementById("status");
    st.textContent = "live · " + new Date().toLocaleTimeString();
    st.className = "status";
  } catch (e) {
    const st = document.getElementById("status");
    st.textContent = "error: " + e.message;
    st.className = "status err";
  }
}

function draw(nets, eps, ports, impaired, uplink) {
  const svg = document.getElementById("graph");
  const W = svg.clientWidth || 900, H = 640;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.replaceChildren();
  const edges = el("g", {}, svg), nodes = el("g", {}, svg);
  const pos = {};
  const row = (items, y) => items.forEach((it, i) => { pos[it] = {x: (i + 1) * W / (items.length + 1), y}; });
  const netNames = nets.map(n => "net:" + n.name);
  row(eps.map(e => "ep:" + e.name), 90);
  row(netNames, 330);
  const sys = ports.filter(p => p.kind === "system" && !p.routed);
  const bottom = sys.map(p => "port:" + p.name);
  if (uplink) bottom.push("uplink");
  row(bottom, 560);
  const byVLAN = {};
  for (const n of nets) byVLAN[n.vlan] = n.name;
  const link = (a, b, portName) => {
    const p = pos[a], q = pos[b];
    if (!p || !q) return;
    const r = rates[portName] || {fps: 0, bps: 0};
    const imp = impaired[portName];
    const isImp = imp && (imp.out.summary !== "none" || imp.in.summary !== "none");
    el("line", {x1: p.x, y1: p.y, x2: q.x, y2: q.y, class: "edge" + (r.fps > 0.5 ? " busy" : "") + (isImp ? " impaired" : ""), "data-port": portName || ""}, edges);
    const mx = (p.x + q.x) / 2, my = (p.y + q.y) / 2;
    if (portName) el("text", {x: mx + 4, y: my - 4, class: "edge-label", "data-port": portName}, edges,
      human(r.fps, "f/s") + " · " + human(r.bps, "bit/s"));
    if (isImp) {
      const s = [];
      if (imp.out.summary !== "none") s.push("out " + imp.out.summary);
      if (imp.in.summary !== "none") s.push("in " + imp.in.summary);
      el("text", {x: mx + 4, y: my + 10, class: "edge-label impair"}, edges, s.join("; "));
    }
  };
  for (const e of eps) {
    for (const nic of e.nics) {
      if (nic.network) link("ep:" + e.name, "net:" + nic.network, nic.port);
      else for (const n of nets) if (!nic.vlans.length || nic.vlans.includes(n.vlan)) link("ep:" + e.name, "net:" + n.name, nic.port);
    }
  }
  for (const p of sys) {
    const vl = p.vlan ? [p.vlan] : [];
    const carried = p.all_vlans ? nets.map(n => n.vlan) : vl.concat(p.vlans);
    for (const v of carried) if (byVLAN[v]) link("port:" + p.name, "net:" + byVLAN[v], p.name);
  }
  if (uplink) for (const n of nets) if (!n.internal) link("uplink", "net:" + n.name, uplink.interface);
  for (const n of nets) {
    const p = pos["net:" + n.name];
    const g = el("g", {class: "node network", "data-name": n.name, transform: "translate(" + p.x + "," + p.y + ")"}, nodes);
    el("ellipse", {rx: 78, ry: 26}, g);
    el("text", {y: -3}, g, n.name);
    el("text", {y: 12}, g, "vlan " + n.vlan + " · " + n.subnet);
  }
  for (const e of eps) {
    const p = pos["ep:" + e.name];
    const g = el("g", {class: "node endpoint" + (e.state === "running" ? "" : " stopped"), "data-name": e.name,
      transform: "translate(" + p.x + "," + p.y + ")"}, nodes);
    el("rect", {x: -62, y: -22, width: 124, height: 44, rx: 6}, g);
    el("text", {y: -5}, g, e.name);
    el("text", {y: 11}, g, e.nics.map(n => n.ip).filter(Boolean).join(" ") || e.state);
    g.addEventListener("click", () => inspect(e.name));
  }
  for (const p of sys) {
    const q = pos["port:" + p.name];
    const g = el("g", {class: "node port", "data-name": p.name, transform: "translate(" + q.x + "," + q.y + ")"}, nodes);
    el("rect", {x: -55, y: -18, width: 110, height: 36, rx: 4}, g);
    el("text", {y: -2}, g, p.name);
    el("text", {y: 12}, g, p.mode);
  }
  if (uplink) {
    const q = pos["uplink"];
    const g = el("g", {class: "node uplink", "data-name": "uplink", transform: "translate(" + q.x + "," + q.y + ")"}, nodes);
    el("rect", {x: -70, y: -18, width: 140, height: 36, rx: 4}, g);
    el("text", {y: -2}, g, "uplink " + uplink.interface);
    el("text", {y: 12}, g, uplink.address);
  }
}

async function inspect(name) {
  const out = document.getElementById("inspect");
  try {
    out.textContent = JSON.stringify(await api("endpoints/" + encodeURIComponent(name)), null, 2);
  } catch (e) {
    out.textContent = "error: " + e.message;
  }
}

document.getElementById("trace-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = {from: f.get("from"), to: f.get("to")};
  if (f.get("proto")) body.proto = f.get("proto");
  const out = document.getElementById("trace-out");
  out.textContent = "tracing…";
  try {
    const t = await api("trace", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const lines = ["trace " + t.from + " → " + t.to].concat(t.notes);
    for (const run of [t.forward, t.reply]) {
      if (!run) continue;
      for (const s of run.steps || []) lines.push((s.stage || "") + "  " + (s.text || s.detail || JSON.stringify(s)));
    }
    lines.push("verdict: " + t.verdict);
    out.textContent = lines.join("\n");
  } catch (e) {
    out.textContent = "error: " + e.message;
  }
});

api("version").then(v => { document.getElementById("version").textContent = v.version; }, () => {});
poll();
setInterval(poll, 1000);
