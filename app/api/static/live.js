// Lookout live page: polls the worker's API and draws hosts, services, alerts and incidents.
// No framework, no build step, nothing loaded from elsewhere. Every value from the API goes into
// the page as text (textContent / text nodes), never as HTML.
"use strict";

(() => {
  const POLL_MS = 3000;
  const TOKEN_KEY = "lookout.token";
  const REFRESH_KEY = "lookout.refresh";
  const WHO_KEY = "lookout.who";
  const RANK = { viewer: 0, operator: 1, admin: 2 };
  const SVG_NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let lastOk = null;
  let me = null; // the signed-in caller: {name, server_admin, roles: {tenant: role}}

  // ---- DOM helpers (text only) ----------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, String(value));
      else node[key] = value; // textContent, title, type, disabled, ...
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function emptyRow(tbody, columns, text) {
    tbody.replaceChildren(el("tr", {}, el("td", { class: "empty", colSpan: columns }, text)));
  }

  // shared with logs.js: DOM helpers, requests with the caller's token, and "lookout:auth" (a
  // document event after every sign-in and sign-out)
  window.Lookout = Object.freeze({ el, emptyRow, send });

  // ---- formatting -----------------------------------------------------------------------------
  function num(value, digits = 1) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "–";
    const abs = Math.abs(value);
    if (abs >= 1e9) return (value / 1e9).toFixed(digits) + "G";
    if (abs >= 1e6) return (value / 1e6).toFixed(digits) + "M";
    if (abs >= 1e4) return (value / 1e3).toFixed(digits) + "k";
    if (abs >= 100 || digits === 0) return value.toFixed(0);
    return value.toFixed(abs >= 10 ? 1 : 2);
  }

  function withUnit(value, unit) {
    if (value === null || value === undefined) return "–";
    if (unit === "%") return value.toFixed(1) + " %";
    if (unit === "B/s") return num(value) + "B/s";
    return num(value);
  }

  function pct(value) {
    return value === null || value === undefined ? "–" : (value * 100).toFixed(2) + " %";
  }

  function clock(epochSeconds) {
    if (!epochSeconds) return "–";
    return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour12: false });
  }

  function ago(epochSeconds) {
    if (!epochSeconds) return "–";
    const s = Math.max(0, Date.now() / 1000 - epochSeconds);
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }

  // ---- sparkline: inline SVG polyline, last point marked (the open window) -------------------
  function sparkline(points, title, bad) {
    const width = 120;
    const height = 24;
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", bad ? "spark bad" : "spark");
    const t = document.createElementNS(SVG_NS, "title");
    t.textContent = title;
    svg.append(t);
    const values = points.map((p) => p[1]).filter((v) => Number.isFinite(v));
    if (values.length === 0) return svg;
    const min = Math.min(...values);
    const max = Math.max(...values);
    const span = max - min || 1;
    const step = values.length > 1 ? (width - 4) / (values.length - 1) : 0;
    const coords = values.map((v, i) => {
      const x = values.length > 1 ? 2 + i * step : width / 2;
      const y = height - 3 - ((v - min) / span) * (height - 6);
      return [x.toFixed(1), y.toFixed(1)];
    });
    const line = document.createElementNS(SVG_NS, "polyline");
    line.setAttribute("points", coords.map((c) => c.join(",")).join(" "));
    svg.append(line);
    const [lx, ly] = coords[coords.length - 1];
    const dot = document.createElementNS(SVG_NS, "circle");
    dot.setAttribute("cx", lx);
    dot.setAttribute("cy", ly);
    dot.setAttribute("r", "2.2");
    svg.append(dot);
    return svg;
  }

  // ---- sign-in (tokens kept in sessionStorage for this tab only) ------------------------------
  const token = () => sessionStorage.getItem(TOKEN_KEY);
  const who = () => sessionStorage.getItem(WHO_KEY) || "";

  function showAuth() {
    const signedIn = Boolean(token());
    $("login-form").hidden = signedIn;
    $("token-form").hidden = signedIn;
    $("signed-in").hidden = !signedIn;
    $("who").textContent = who();
    const roles = me ? Object.entries(me.roles).map(([t, r]) => `${t}: ${r}`) : [];
    $("roles").textContent = me && me.server_admin ? "(server admin)" : roles.length ? `(${roles.join(", ")})` : "";
  }

  function signOut() {
    for (const key of [TOKEN_KEY, REFRESH_KEY]) sessionStorage.removeItem(key);
    me = null;
    showAuth();
    document.dispatchEvent(new Event("lookout:auth"));
  }

  // Ack and Silence are for operators (and admins) of the alert's tenant.
  function canAct(alert) {
    if (!token() || !me) return false;
    if (me.server_admin) return true;
    const role = me.roles[(alert.labels || {}).tenant];
    return role !== undefined && RANK[role] >= RANK.operator;
  }

  function message(text, isError) {
    const m = $("action-msg");
    m.textContent = text;
    m.className = isError ? "message error" : "message";
    m.hidden = !text;
  }

  function headers() {
    const h = { "Content-Type": "application/json" };
    if (token()) h.Authorization = "Bearer " + token();
    return h;
  }

  // A new access token from the refresh token (rotated); false when there is none or it failed.
  async function renew() {
    const refreshToken = sessionStorage.getItem(REFRESH_KEY);
    if (!refreshToken) return false;
    const response = await fetch("/api/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: refreshToken }),
      cache: "no-store",
    });
    if (!response.ok) return false;
    const doc = await response.json();
    sessionStorage.setItem(TOKEN_KEY, doc.access_token);
    sessionStorage.setItem(REFRESH_KEY, doc.refresh_token);
    return true;
  }

  // A request with the caller's token (extra: more headers, an AbortSignal). A 401 to a token
  // renews it once; a 401 to a request sent before a sign-in signs nobody out.
  async function send(method, path, body, extra = {}) {
    const sentWith = token();
    const options = { method, headers: { ...headers(), ...extra.headers }, cache: "no-store" };
    if (extra.signal) options.signal = extra.signal;
    if (body !== undefined) options.body = JSON.stringify(body);
    let response = await fetch(path, options);
    if (response.status !== 401 || !sentWith || sentWith !== token()) return response;
    if (await renew()) {
      response = await fetch(path, { ...options, headers: { ...headers(), ...extra.headers } });
    }
    if (response.status === 401) signOut();
    return response;
  }

  async function write(method, path, body) {
    const response = await send(method, path, body);
    let doc = {};
    try {
      doc = await response.json();
    } catch (err) {
      doc = {};
    }
    if (!response.ok) throw new Error(doc.error || `HTTP ${response.status}`);
    return doc;
  }

  async function loadMe() {
    if (!token()) return;
    const response = await send("GET", "/api/auth/me");
    me = response.ok ? await response.json() : null;
    showAuth();
    document.dispatchEvent(new Event("lookout:auth"));
  }

  async function signIn(username, password) {
    const response = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
      cache: "no-store",
    });
    const doc = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(doc.error || `HTTP ${response.status}`);
    sessionStorage.setItem(TOKEN_KEY, doc.access_token);
    sessionStorage.setItem(REFRESH_KEY, doc.refresh_token);
    sessionStorage.setItem(WHO_KEY, username);
    await loadMe();
  }

  async function ack(alert) {
    try {
      await write("POST", `/api/alerts/${encodeURIComponent(alert.fingerprint)}/ack`, {
        by: who(),
        comment: "acknowledged on the live page",
      });
      message(`${alert.rule} on ${alert.host || "?"} acknowledged by ${who()}`, false);
    } catch (err) {
      message(`ack failed: ${err.message}`, true);
    }
    refreshSoon();
  }

  async function silence(alert) {
    const matchers = {};
    for (const [label, value] of Object.entries(alert.labels || {})) matchers[label] = "=" + value;
    try {
      const s = await write("POST", "/api/silences", {
        matchers,
        duration: 3600,
        created_by: who(),
        comment: "silenced for 1 h on the live page",
      });
      message(`${alert.rule} on ${alert.host || "?"} silenced for 1 h (silence ${s.id})`, false);
    } catch (err) {
      message(`silence failed: ${err.message}`, true);
    }
    refreshSoon();
  }

  // ---- sections -------------------------------------------------------------------------------
  function renderAlerts(alerts) {
    const tbody = $("alerts").tBodies[0];
    const shown = alerts.filter((a) => a.status !== "resolved");
    const firing = shown.filter((a) => a.status === "firing").length;
    $("alert-count").textContent = `${firing} firing, ${shown.length - firing} pending`;
    if (shown.length === 0) return emptyRow(tbody, 7, "no alerts");
    const rows = shown.map((a) => {
      const actions = [];
      const labels = Object.entries(a.labels || {})
        .filter(([k]) => !["alertname", "host", "severity"].includes(k))
        .map(([k, v]) => `${k}=${v}`)
        .join(" ");
      const handled = [];
      if (a.acknowledged) handled.push(el("span", { class: "badge acked ack-state" }, `acked by ${a.ack_by}`));
      if ((a.silenced_by || []).length) handled.push(el("span", { class: "badge acked" }, "silenced"));
      if (canAct(a)) {
        const ackButton = el("button", {
          type: "button",
          class: "ack",
          textContent: "Ack",
          disabled: a.acknowledged,
          title: "acknowledge",
        });
        ackButton.addEventListener("click", () => ack(a));
        const silenceButton = el("button", {
          type: "button",
          class: "silence",
          textContent: "Silence 1 h",
          disabled: (a.silenced_by || []).length > 0,
          title: "silence this alert for one hour",
        });
        silenceButton.addEventListener("click", () => silence(a));
        actions.push(ackButton, silenceButton);
      }
      return el(
        "tr",
        { class: "alert", "data-fingerprint": a.fingerprint, "data-status": a.status },
        el("td", {}, el("span", { class: `badge ${a.status}` }, a.status)),
        el("td", {}, el("div", {}, `${a.rule} (${a.severity || "-"})`), el("div", { class: "labels" }, labels)),
        el("td", {}, a.host || "–"),
        el("td", { class: "num" }, num(a.value, 2)),
        el("td", { title: clock(a.since) }, ago(a.since)),
        el("td", {}, ...handled),
        el("td", { class: "actions" }, ...actions),
      );
    });
    tbody.replaceChildren(...rows);
  }

  function hostErrorPoints(host) {
    const byStart = new Map();
    for (const svc of host.services) {
      for (const p of svc.points) {
        const slot = byStart.get(p.start) || { requests: 0, s5xx: 0, error_lines: 0, log_lines: 0 };
        for (const k of Object.keys(slot)) slot[k] += p[k];
        byStart.set(p.start, slot);
      }
    }
    return [...byStart.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([start, c]) => [start, c.requests ? c.s5xx / c.requests : c.log_lines ? c.error_lines / c.log_lines : 0]);
  }

  function renderHosts(hosts, alerts) {
    const firingHosts = new Set(alerts.filter((a) => a.status === "firing").map((a) => a.host));
    $("host-count").textContent = String(hosts.length);
    if (hosts.length === 0) {
      $("hosts").replaceChildren(el("p", { class: "muted" }, "no host has sent data yet"));
      return;
    }
    const cards = hosts.map((h) => {
      const rows = h.metrics.map((m) =>
        el(
          "div",
          { class: "metric", "data-metric": m.key },
          el("span", { class: "name" }, m.label),
          sparkline(m.points, `${m.label}: ${m.points.length} windows`, false),
          el("span", { class: "value" }, withUnit(m.value, m.unit)),
        ),
      );
      if (h.services.length) {
        rows.push(
          el(
            "div",
            { class: "metric", "data-metric": "error_rate" },
            el("span", { class: "name", title: "5xx share of requests (else error log lines)" }, `errors · ${num(h.requests, 0)} req`),
            sparkline(hostErrorPoints(h), "error rate per window", h.error_rate > 0.05),
            el("span", { class: "value" }, pct(h.error_rate)),
          ),
        );
      }
      const alerting = firingHosts.has(h.host);
      return el(
        "div",
        { class: alerting ? "card alerting" : "card", "data-host": h.host },
        el("h3", {}, el("span", {}, h.host), alerting ? el("span", { class: "badge firing" }, "firing") : null),
        el("div", { class: "window" }, `window ${clock(h.start)}–${clock(h.end)} · data up to ${clock(h.watermark)}`),
        ...rows,
      );
    });
    $("hosts").replaceChildren(...cards);
  }

  function renderServices(services) {
    const tbody = $("services").tBodies[0];
    if (services.length === 0) return emptyRow(tbody, 6, "no service logs yet");
    tbody.replaceChildren(
      ...services.map((s) =>
        el(
          "tr",
          { "data-service": s.service },
          el("td", {}, s.service),
          el("td", { class: "labels" }, s.hosts.join(", ")),
          el("td", { class: "num" }, num(s.requests, 0)),
          el("td", { class: "num" }, pct(s.error_rate)),
          el("td", {}, sparkline(s.points, "error rate per window", s.error_rate > 0.05)),
          el("td", { class: "num" }, s.latency_p95 === null ? "–" : num(s.latency_p95, 3) + " s"),
        ),
      ),
    );
  }

  function renderIncidents(incidents) {
    const tbody = $("incidents").tBodies[0];
    if (incidents.length === 0) return emptyRow(tbody, 7, "no incidents");
    tbody.replaceChildren(
      ...incidents.slice(0, 15).map((i) =>
        el(
          "tr",
          { "data-incident": i.incident_id },
          el("td", {}, clock(i.opened_at)),
          el("td", {}, el("span", { class: `badge ${i.status}` }, i.status)),
          el("td", {}, i.rule || "–"),
          el("td", {}, i.host || "–"),
          el("td", {}, i.acknowledged_by ? `${i.acknowledged_by} at ${clock(i.acknowledged_at)}` : "–"),
          el("td", {}, i.resolved_at ? clock(i.resolved_at) : "–"),
          el("td", {}, i.summary || ""),
        ),
      ),
    );
  }

  // ---- polling --------------------------------------------------------------------------------
  async function getJson(path) {
    const response = await send("GET", path);
    if (response.status === 401) throw new Error("sign in to see data");
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // The tenant switcher offers the tenants of the hosts the caller sees.
  function renderTenants(hosts) {
    const select = $("tenant");
    const known = new Set([...select.options].map((o) => o.value));
    for (const tenant of [...new Set(hosts.map((h) => h.tenant).filter(Boolean))].sort()) {
      if (!known.has(tenant)) select.append(el("option", { value: tenant }, tenant));
    }
  }

  async function refresh() {
    const kind = $("kind").value;
    const tenant = $("tenant").value;
    const mine = (x) => !tenant || (x.labels || {}).tenant === tenant;
    try {
      const query = `kind=${encodeURIComponent(kind)}` + (tenant ? `&tenant=${encodeURIComponent(tenant)}` : "");
      const [overview, alerts, incidents] = await Promise.all([
        getJson(`/api/overview?${query}`),
        getJson("/api/alerts"),
        getJson("/api/incidents"),
      ]);
      if (!tenant) renderTenants(overview.hosts);
      renderAlerts(alerts.alerts.filter(mine));
      renderHosts(overview.hosts, alerts.alerts);
      renderServices(overview.services);
      renderIncidents(incidents.incidents.filter(mine));
      lastOk = Date.now();
      $("status").textContent =
        `updated ${new Date(lastOk).toLocaleTimeString([], { hour12: false })} · ` +
        `${overview.hosts.length} hosts · ${overview.workers} worker(s) · every ${POLL_MS / 1000} s`;
      document.body.dataset.updated = String(lastOk);
    } catch (err) {
      const since = lastOk ? ` (last update ${Math.round((Date.now() - lastOk) / 1000)} s ago)` : "";
      $("status").textContent = `cannot reach the worker: ${err.message}${since}; retrying`;
    }
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      await refresh();
      schedule(POLL_MS);
    }, delay);
  }

  function refreshSoon() {
    schedule(150);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await signIn($("login-user").value.trim(), $("login-password").value);
        $("login-password").value = "";
        message("", false);
      } catch (err) {
        message(`sign-in failed: ${err.message}`, true);
      }
      refreshSoon();
    });
    $("token-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = $("name-input").value.trim();
      const value = $("token-input").value.trim();
      if (!name || !value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      sessionStorage.removeItem(REFRESH_KEY);
      sessionStorage.setItem(WHO_KEY, name);
      $("token-input").value = "";
      message("", false);
      await loadMe();
      refreshSoon();
    });
    $("token-forget").addEventListener("click", async () => {
      const refreshToken = sessionStorage.getItem(REFRESH_KEY);
      if (refreshToken) {
        await fetch("/api/auth/logout", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: refreshToken }),
        }).catch(() => {});
      }
      signOut();
      refreshSoon();
    });
    $("kind").addEventListener("change", refreshSoon);
    $("tenant").addEventListener("change", refreshSoon);
    showAuth();
    loadMe().finally(() => schedule(0));
  });
})();
