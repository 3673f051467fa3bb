// The console's pages: each reads its /api/v1 JSON and charts it with Plotly; the event
// stream tells it when to read again. Every chart element records how many points it drew
// (data-points), which the browser test checks.
"use strict";

const page = document.body.dataset.page;
const main = document.getElementById("main");
const TOKEN_KEY = "riskstream-token";
const fromUrl = new URLSearchParams(location.search).get("token");
if (fromUrl) localStorage.setItem(TOKEN_KEY, fromUrl);
const tokenInput = document.getElementById("token");
tokenInput.value = localStorage.getItem(TOKEN_KEY) || "";
tokenInput.addEventListener("change", () => localStorage.setItem(TOKEN_KEY, tokenInput.value));

const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));
const when = (ms) => (ms ? new Date(ms).toLocaleString() : "–");
const iso = (ms) => new Date(ms).toISOString();
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

async function api(path) {
  const response = await fetch(`/api/v1/${path}`);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.style.display = "block";
  setTimeout(() => (el.style.display = "none"), 6000);
}

async function act(path, body) {
  const response = await fetch(`/api/v1/${path}`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY) || ""}`,
    },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  toast(response.ok ? answer.message : `refused (${response.status}): ${answer.detail}`);
  if (response.ok) refresh();
  return response.ok;
}

function reasonOf(id) {
  const value = document.getElementById(id).value.trim();
  if (!value) toast("say why first: the reason is recorded on the audit topic");
  return value;
}

function chart(id, traces, layout = {}) {
  const el = document.getElementById(id);
  const points = traces.reduce((n, t) => n + ((t.x || t.z || t.y || []).length || 0), 0);
  el.dataset.points = String(points);
  Plotly.react(el, traces, { margin: { t: 30, r: 10, b: 40, l: 50 }, ...layout }, { displaylogo: false, responsive: true });
}

function card(title, body, cls = "") {
  return `<section class="card ${cls}"><h2>${esc(title)}</h2>${body}</section>`;
}

function alertRows(rows) {
  if (!rows.length) return `<p class="muted">none</p>`;
  return `<table><tr><th>since</th><th>severity</th><th>kind</th><th>subject</th><th>statistic</th><th>value</th><th>version</th></tr>${rows
    .map((a) => `<tr><td>${when(a.fired_at)}</td><td class="sev-${a.severity}">${a.severity}</td><td>${a.kind}</td>
      <td>${esc(a.about)}${a.segment ? ` (${esc(a.segment)})` : ""}</td><td>${a.statistic}</td>
      <td>${fmt(a.value)}</td><td>v${esc(a.model_version)}</td></tr>`).join("")}</table>`;
}

function role(name, r) {
  if (!r) return card(name, `<p class="muted">none</p>`);
  const m = r.metrics;
  const pick = (k) => m[`holdout_${k}`] ?? m[`test_${k}`] ?? m[`cv_${k}`];
  const live = r.live || {};
  const est = live.estimated || {}, real = live.realized || {};
  const low = live.estimated_low || {}, high = live.estimated_high || {};
  // an estimate with its 95% interval: where the realized value falls by the labels' chance
  const ranged = (k) => est[k] == null || low[k] == null ? fmt(est[k])
    : `${fmt(est[k])} <span class="muted">[${fmt(low[k])}, ${fmt(high[k])}]</span>`;
  return card(`${name}: v${r.version}`, `<table>
    <tr><th></th><th>accuracy</th><th>ROC-AUC</th><th>F1</th><th>n</th></tr>
    <tr><td>validation</td><td>${fmt(pick("accuracy"))}</td><td>${fmt(pick("roc_auc"))}</td><td>${fmt(pick("f1"))}</td><td></td></tr>
    <tr><td>estimated (before labels, 95% interval)</td><td>${ranged("accuracy")}</td><td>${ranged("roc_auc")}</td><td>${ranged("f1")}</td><td>${live.estimated_n ?? "–"}</td></tr>
    <tr><td>realized (last window)</td><td>${fmt(real.accuracy)}</td><td>${fmt(real.roc_auc)}</td><td>${fmt(real.f1)}</td><td>${live.realized_n ?? "–"}</td></tr>
    </table><p class="muted">${esc(r.tags.training_reason || "")} ${esc(r.tags.awaiting_approval ? "· awaiting approval" : "")}</p>`);
}

// The recovery after the alert, phase by phase (seconds; "-" not yet or not dated).
const PHASES = {
  decision: "alert → retrain request",
  training: "request → version registered",
  promotion: "registered → promoted",
  swap: "promoted → every scorer serving it",
};
function phaseTable(phases) {
  const rows = Object.entries(PHASES).map(([name, what]) => {
    const s = phases[name];
    return `<tr><td>${name}</td><td class="muted">${what}</td><td id="phase-${name}">${s == null ? "-" : s.toFixed(1) + " s"}</td></tr>`;
  });
  return `<table class="phases">${rows.join("")}</table>`;
}

const render = {
  async overview() {
    const o = await api("overview");
    const retrain = o.last_retrain;
    main.innerHTML = `<div class="grid">
      ${card("records/s in and out", `<div id="rates" class="chart"></div>`)}
      ${card("consumer lag per worker group", `<div id="lag" class="chart"></div>`)}
      ${role("champion", o.roles.champion)}
      ${role("challenger", o.roles.challenger)}
      ${card(`active alerts (${o.active_alerts.length})`, alertRows(o.active_alerts))}
      ${card("last retrain", retrain ? `<p>requested ${when(retrain.requested_at)} (${esc(retrain.reasons.join(", "))})<br>
        outcome: <strong id="retrain-outcome">${retrain.outcome}</strong> ${retrain.version ? `v${esc(retrain.version)}` : ""}<br>
        <span class="muted">${esc(retrain.reason || "")}</span></p>${phaseTable(retrain.phases)}` : `<p class="muted">none yet</p>`)}
    </div>`;
    const t = o.rates.map((r) => iso(r.time * 1000));
    chart("rates", [
      { x: t, y: o.rates.map((r) => r.in_rps), name: "in (patient records)", mode: "lines" },
      { x: t, y: o.rates.map((r) => r.out_rps), name: "out (predictions)", mode: "lines" },
    ], { yaxis: { title: "records/s" } });
    const groups = Object.keys(o.lag).sort();
    chart("lag", [{ type: "bar", orientation: "h", y: groups, x: groups.map((g) => o.lag[g]) }],
      { xaxis: { title: "records behind" }, margin: { l: 170, t: 20, r: 10, b: 40 } });
  },

  async drift() {
    const d = await api("drift");
    main.innerHTML = `<div class="grid">
      ${card("PSI per feature and window (hover: KS, JS; click: its histogram)", `<div id="heatmap" class="chart"></div>`, "wide")}
      ${card("reference vs window", `<p><select id="feature"></select> <select id="window"></select></p><div id="histogram" class="chart"></div>`)}
      ${card("score distribution, latest window", `<div id="scores" class="chart"></div>`)}
    </div>`;
    if (!d.windows.length) {
      document.getElementById("heatmap").innerHTML = `<p class="muted">no closed window yet</p>`;
      return;
    }
    const labels = d.windows.map((w) => new Date(w).toLocaleTimeString());
    const custom = d.features.map((_, i) => d.windows.map((_, j) => [d.ks[i][j], d.js[i][j], d.versions[j], d.sizes[j]]));
    chart("heatmap", [{
      type: "heatmap", x: labels, y: d.features, z: d.psi, customdata: custom, colorscale: "YlOrRd", zmin: 0,
      hovertemplate: "%{y} @ %{x}<br>PSI %{z:.3f}<br>KS %{customdata[0]:.3f}<br>JS %{customdata[1]:.4f}<br>v%{customdata[2]}, n=%{customdata[3]}<extra></extra>",
      colorbar: { title: "PSI" },
    }], { margin: { l: 110, t: 20, r: 10, b: 60 } });
    const feature = document.getElementById("feature"), windowSel = document.getElementById("window");
    feature.innerHTML = d.features.filter((f) => f !== "score").map((f) => `<option>${esc(f)}</option>`).join("");
    windowSel.innerHTML = d.windows.map((w, j) => `<option value="${j}">${labels[j]} (v${esc(d.versions[j])})</option>`).reverse().join("");
    const latest = d.windows.length - 1;
    // open on the feature that drifted most, in its worst window
    const worst = d.features.filter((f) => f !== "score").map((f) => [f, Math.max(...d.psi[d.features.indexOf(f)].map((v) => v ?? 0))])
      .sort((a, b) => b[1] - a[1])[0];
    if (worst) {
      const row = d.psi[d.features.indexOf(worst[0])].map((v) => v ?? 0);
      feature.value = worst[0];
      windowSel.value = String(row.indexOf(Math.max(...row)));
    }
    const histogram = async (id, name, j) => {
      const h = await api(`drift/histogram?version=${encodeURIComponent(d.versions[j])}&start=${d.windows[j]}&feature=${encodeURIComponent(name)}`);
      const edge = (v) => Number(Number(v).toPrecision(3));
      const bins = h.reference.map((_, b) => (b === 0 ? `< ${edge(h.edges[0])}` : b === h.edges.length ? `≥ ${edge(h.edges[b - 1])}` : `${edge(h.edges[b - 1])}–${edge(h.edges[b])}`));
      chart(id, [
        { type: "bar", x: bins, y: h.reference, name: "reference" },
        { type: "bar", x: bins, y: h.current, name: `window (n=${h.n})` },
      ], { barmode: "group", yaxis: { title: "share", tickformat: ".0%" }, title: { text: name, font: { size: 13 } }, margin: { t: 30, r: 10, b: 80, l: 50 } });
    };
    const shown = () => histogram("histogram", feature.value, Number(windowSel.value));
    feature.onchange = shown;
    windowSel.onchange = shown;
    document.getElementById("heatmap").on?.("plotly_click", (e) => {
      const p = e.points[0];
      feature.value = p.y === "score" ? feature.value : p.y;
      windowSel.value = String(p.pointIndex[1]);
      shown();
    });
    await Promise.all([shown(), histogram("scores", "score", latest)]);
  },

  async performance() {
    const p = await api("performance");
    const metrics = [["accuracy", "accuracy"], ["roc_auc", "ROC-AUC"], ["f1", "F1"], ["brier", "Brier (lower is better)"]];
    main.innerHTML = `<p class="muted">Realized on joined labels, one point per window, with 95% intervals.
      Dashed lines: a new champion took over.</p><div class="grid">${metrics.map(([m, title]) => card(title, `<div id="perf-${m}" class="chart"></div>`)).join("")}</div>`;
    const shapes = p.takeovers.map((t) => ({ type: "line", xref: "x", yref: "paper", x0: iso(t.time), x1: iso(t.time), y0: 0, y1: 1, line: { dash: "dash", color: "#888" } }));
    const notes = p.takeovers.map((t) => ({ x: iso(t.time), y: 1, yref: "paper", text: `v${t.version}`, showarrow: false, yanchor: "bottom" }));
    for (const [m] of metrics) {
      const traces = [];
      p.series.forEach((s, i) => {
        const x = s.window_start.map(iso);
        const name = `v${s.version}${s.variant === "shadow" ? " (shadow)" : ""}`;
        const color = PALETTE[i % PALETTE.length];
        const v = s[m];
        if (v.low.some((b) => b !== null)) {
          traces.push({ x: x.concat([...x].reverse()), y: v.high.concat([...v.low].reverse()), fill: "toself", mode: "none", fillcolor: color, opacity: 0.15, name: `${name} 95%`, showlegend: false, hoverinfo: "skip" });
        }
        traces.push({ x, y: v.value, name, mode: "lines+markers", line: { color, dash: s.variant === "shadow" ? "dot" : "solid" }, marker: { color }, customdata: s.n, hovertemplate: `${name}: %{y:.3f} (n=%{customdata})<extra></extra>` });
      });
      chart(`perf-${m}`, traces, { shapes, annotations: notes });
    }
  },

  async models() {
    const rows = await api("models");
    main.innerHTML = card("actions", `<p>reason <input type="text" id="action-reason" placeholder="why (recorded)">
      <button id="rollback">roll back the champion</button> to <select id="rollback-to"><option value="">the previous champion</option>
      ${rows.filter((v) => !v.aliases.includes("champion")).map((v) => `<option value="${esc(v.version)}">v${esc(v.version)}</option>`).join("")}</select>
      <button id="retrain">request a retrain</button></p>`) +
      `<div class="grid">${rows.map((v) => card(`v${v.version} ${v.aliases.map((a) => `· ${a}`).join(" ")}`, `
        <p>${v.aliases.map((a) => `<span class="tag">${esc(a)}</span>`).join("")} created ${when(v.created)}</p>
        <table>${Object.entries(v.metrics).filter(([k]) => /^(holdout|test|cv)_(accuracy|roc_auc|f1|brier)$/.test(k))
          .map(([k, x]) => `<tr><td>${esc(k)}</td><td>${fmt(x)}</td></tr>`).join("")}</table>
        <p><strong>lineage</strong> <span class="muted">${esc(v.tags.data_lineage || "–")}</span></p>
        ${v.tags.awaiting_approval ? `<p class="pending" id="pending-${esc(v.version)}"><strong>awaiting approval:</strong> ${esc(v.tags.awaiting_approval)}<br>
          <button id="approve-${esc(v.version)}">approve</button> <button id="reject-${esc(v.version)}">reject</button></p>` : ""}
        ${v.tags.decision ? `<p><strong>decision</strong> ${esc(v.tags.decision)}</p>` : ""}
        ${v.tags.last_action ? `<p><strong>last action</strong> ${esc(v.tags.last_action)}</p>` : ""}
        <p><strong>history</strong></p><table>${v.history.map((h) => `<tr><td>${when(h.time)}</td><td>${h.status}</td>
          <td>${esc(h.by)}</td><td class="muted">${esc(h.why)}</td></tr>`).join("") || `<tr><td class="muted">none</td></tr>`}</table>`)).join("")}</div>`;
    const reasoned = (path) => async () => {
      const reason = reasonOf("action-reason");
      if (reason) await act(path, { reason });
    };
    document.getElementById("rollback").onclick = async () => {
      const reason = reasonOf("action-reason"), version = document.getElementById("rollback-to").value || null;
      if (reason) await act("models/rollback", { reason, version });
    };
    document.getElementById("retrain").onclick = reasoned("retrain");
    for (const v of rows.filter((r) => r.tags.awaiting_approval)) {
      document.getElementById(`approve-${v.version}`).onclick = reasoned(`models/${v.version}/approve`);
      document.getElementById(`reject-${v.version}`).onclick = reasoned(`models/${v.version}/reject`);
    }
  },

  async alerts() {
    const rows = await api("alerts");
    main.innerHTML = card("incidents over time", `<div id="timeline" class="chart"></div>`) +
      card("alerts", `<p>reason <input type="text" id="alert-reason" placeholder="why (recorded)">
        silence for <input type="number" id="silence-minutes" value="60" min="1" style="width:5em"> min</p>
        <table><tr><th>fired</th><th>resolved</th><th>severity</th><th>kind</th><th>subject</th><th>statistic</th><th>value</th><th></th></tr>
        ${rows.map((a, i) => `<tr><td>${when(a.fired_at)}</td><td>${a.resolved_at ? when(a.resolved_at) : "<strong>FIRING</strong>"}</td>
          <td class="sev-${a.severity}">${a.severity}</td><td>${a.kind}</td><td>${esc(a.about)}${a.segment ? ` (${esc(a.segment)})` : ""}</td>
          <td>${a.statistic}</td><td>${fmt(a.value)} <span class="muted">/ ${fmt(a.threshold)}</span></td>
          <td>${a.ack ? `<span class="muted">ack ${esc(a.ack.actor)}</span>` : `<button data-ack="${i}">ack</button>`}
              ${a.silence ? `<span class="muted">silenced until ${when(a.silence.until)}</span>` : `<button data-silence="${i}">silence</button>`}</td></tr>`).join("")}</table>`);
    const severities = ["NOTICE", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
    const colors = { NOTICE: "#868e96", LOW: "#4c6ef5", MEDIUM: "#b08900", HIGH: "#d9480f", CRITICAL: "#b00020" };
    const now = Date.now();
    chart("timeline", severities.filter((s) => rows.some((a) => a.severity === s)).map((s) => {
      const mine = rows.filter((a) => a.severity === s);
      return {
        type: "bar", orientation: "h", name: s, marker: { color: colors[s] },
        base: mine.map((a) => iso(a.fired_at)), x: mine.map((a) => (a.resolved_at || now) - a.fired_at),
        y: mine.map((a) => `${a.kind} ${a.about}${a.segment ? ` (${a.segment})` : ""}`),
        customdata: mine.map((a) => [a.statistic, fmt(a.value), a.resolved_at ? "RESOLVED" : "FIRING"]),
        hovertemplate: "%{y}<br>%{customdata[0]} %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
      };
    }), { xaxis: { type: "date" }, barmode: "overlay", margin: { l: 220, t: 20, r: 10, b: 40 } });
    main.querySelectorAll("[data-ack]").forEach((b) => (b.onclick = async () => {
      const a = rows[Number(b.dataset.ack)], reason = reasonOf("alert-reason");
      if (reason) await act(`alerts/${a.alert_id}/ack`, { reason, subject: a.subject });
    }));
    main.querySelectorAll("[data-silence]").forEach((b) => (b.onclick = async () => {
      const a = rows[Number(b.dataset.silence)], reason = reasonOf("alert-reason");
      const minutes = Number(document.getElementById("silence-minutes").value);
      if (reason) await act("alerts/silence", { reason, subject: a.subject, minutes });
    }));
  },

  async backtests() {
    const rows = await api("backtests");
    main.innerHTML = card("backtest reports", rows.length ? `<table><tr><th>report</th><th>written</th><th>best version</th></tr>${rows
      .map((b) => `<tr><td><a href="${b.url}" target="_blank">${esc(b.name)}</a></td><td>${when(b.written)}</td>
        <td>${esc(b.summary?.better_champion ?? "–")}</td></tr>`).join("")}</table>`
      : `<p class="muted">none yet: <code>riskstream backtest</code> writes its reports where the console lists them</p>`);
  },
};

let busy = false, again = false;
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    // a page with a form being filled in is not redrawn under the user's fingers
    const typing = document.activeElement && ["INPUT", "SELECT"].includes(document.activeElement.tagName);
    if (!typing || !main.dataset.drawn) {
      await render[page]();
      main.dataset.drawn = String(Date.now());
    }
  } catch (e) {
    main.insertAdjacentHTML("afterbegin", `<p class="sev-HIGH">could not read the API: ${esc(e.message)}</p>`);
  } finally {
    busy = false;
    if (again) { again = false; setTimeout(refresh, 200); }
  }
}

const live = document.getElementById("live");
const stream = new EventSource("/api/v1/events");
let scheduled = null; // updates arrive up to once a second; a page redraws at most every 2 s
stream.addEventListener("update", () => {
  live.textContent = "● live";
  if (!scheduled && page !== "backtests") scheduled = setTimeout(() => { scheduled = null; refresh(); }, 2000);
});
stream.onerror = () => (live.textContent = "○ reconnecting");
// a browser holds 6 connections per host: an event stream left open by each page visited
// would leave the 7th page waiting for a free one
addEventListener("pagehide", () => stream.close());
refresh();
