// Sluice dashboard: polls /api/state and /api/series, draws per-backend traffic with uPlot and
// offers drain/enable per backend. No build step; served from the jar.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const refreshMs = Math.max(250, Number(params.get("refresh")) || 2000);
  const palette = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00"];
  let token = sessionStorage.getItem("sluice-token");
  let chart = null;
  let chartKeys = "";
  let lastState = "";

  async function api(method, path, body) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const r = await fetch(path, { method, headers, body });
    if (r.status === 401) {
      token = prompt("Admin token (Bearer)");
      if (token) {
        sessionStorage.setItem("sluice-token", token);
      }
      throw new Error("unauthorized");
    }
    const json = await r.json();
    if (!r.ok) {
      throw new Error(json.error || r.statusText);
    }
    return json;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function renderListeners(state) {
    const body = document.querySelector("#listeners tbody");
    body.replaceChildren(...state.listeners.map(l => el("tr", { class: "listener", "data-listener": l.name },
      el("td", {}, l.name), el("td", {}, l.bound), el("td", {}, l.mode), el("td", {}, l.pool), el("td", {}, l.health),
      el("td", { class: "num" }, l.activeSessions),
      el("td", { class: "num balance-index" }, l.balanceIndex == null ? "–" : l.balanceIndex.toFixed(2)))));
  }

  function showProbe(b, h) {
    document.getElementById("probe-title").textContent = "(" + b.pool + "/" + b.name + " under " + h.profile + ": " + h.state + ")";
    const p = h.lastProbe;
    document.getElementById("probe").textContent = p
      ? p.outcome + " in " + p.elapsedMs.toFixed(1) + " ms: " + p.reason + "\n\n" + p.transcript.join("\n")
      : "no probe finished yet";
  }

  async function act(b, action) {
    try {
      await api("POST", "/api/pools/" + encodeURIComponent(b.pool) + "/backends/" + encodeURIComponent(b.name) + "/" + action);
      lastState = "";
      await refresh();
    } catch (e) {
      setStatus(action + " failed: " + e.message, true);
    }
  }

  function renderPools(state) {
    const root = document.getElementById("pools");
    root.replaceChildren(...state.pools.map(pool => {
      const rows = pool.backends.map(b => el("tr", { class: "backend", "data-backend": b.name, "data-pool": b.pool },
        el("td", {}, b.name), el("td", {}, b.address),
        el("td", {}, ...b.health.map(h => el("span", { class: "badge " + h.state, title: h.profile, onclick: () => showProbe(b, h) },
          h.profile + " " + h.state))),
        el("td", { class: "admin-" + b.adminState }, b.adminState),
        el("td", { class: "num", title: b.weight !== b.configWeight ? "set through the admin API; the configuration says " + b.configWeight : "" },
          b.weight, b.weight !== b.configWeight ? el("span", { class: "muted" }, " (config " + b.configWeight + ")") : ""),
        el("td", { class: "num" }, Object.entries(b.effectiveWeight).map(([l, w]) => l + " " + w).join(", ") || "–"),
        el("td", { class: "num" }, b.active),
        el("td", { class: "num" }, b.counters.messagesLastHour),
        el("td", {}, b.adminState === "enabled"
          ? el("button", { class: "drain", onclick: () => act(b, "drain") }, "Drain")
          : el("button", { class: "enable", onclick: () => act(b, "enable") }, "Enable"))));
      return el("div", { class: "pool" }, el("h3", {}, "pool " + pool.name, el("span", { class: "muted" }, " " + pool.algorithm)),
        el("table", {}, el("thead", {}, el("tr", {}, ...["backend", "address", "health per profile", "admin", "weight",
          "effective weight per listener", "active", "last hour", ""].map(h => el("th", {}, h)))), el("tbody", {}, ...rows)));
    }));
  }

  function renderChart(series) {
    const keys = series.series.map(s => s.pool + "/" + s.backend).join(",");
    const data = [series.minutes, ...series.series.map(s => s.perMinute)];
    const box = document.getElementById("chart");
    if (!chart || keys !== chartKeys) {
      if (chart) chart.destroy();
      chartKeys = keys;
      chart = new uPlot({
        width: Math.max(400, box.clientWidth - 10), height: 260,
        scales: { y: { range: (u, min, max) => [0, Math.max(5, max)] } },
        series: [{}, ...series.series.map((s, i) => ({ label: s.pool + "/" + s.backend, stroke: palette[i % palette.length], width: 2,
          points: { show: false } }))],
        axes: [{}, { label: "per minute" }],
      }, data, box);
    } else {
      chart.setData(data);
    }
    // Exposed for tests and curious operators: everything the chart currently shows.
    const total = series.series.reduce((sum, s) => sum + s.perMinute.reduce((a, b) => a + b, 0), 0);
    box.dataset.total = String(total);
  }

  function setStatus(text, error) {
    const s = document.getElementById("status");
    s.textContent = text;
    s.className = error ? "error" : "muted";
  }

  async function refresh() {
    try {
      const [state, series] = await Promise.all([api("GET", "/api/state"), api("GET", "/api/series")]);
      document.getElementById("config").textContent = state.config;
      // Rebuild the tables only when something changed: buttons stay put under the pointer.
      const text = JSON.stringify(state);
      if (text !== lastState) {
        lastState = text;
        renderListeners(state);
        renderPools(state);
      }
      renderChart(series);
      setStatus("updated " + new Date().toLocaleTimeString() + (state.protocolLogDropped ? " · protocol log dropped "
        + state.protocolLogDropped : ""), false);
    } catch (e) {
      setStatus("update failed: " + e.message, true);
    }
  }

  refresh();
  setInterval(refresh, refreshMs);
})();
