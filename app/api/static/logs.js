// Lookout live page, Logs view: search (/api/logs/search, pages by cursor) and a "follow" switch
// that streams new lines (/api/logs/tail, Server-Sent Events read from fetch, because
// EventSource cannot send the Authorization header; it reconnects with Last-Event-ID as
// EventSource would). Every request carries the signed-in caller's token (live.js), so the view
// shows that caller's tenants' lines. Values go into the page as text; highlights become <mark>.
"use strict";

(() => {
  const MAX_ROWS = 500;
  const $ = (id) => document.getElementById(id);
  const RETRY_MS = 2000;
  let cursor = null;
  let tail = null; // the AbortController of the running live tail

  function filters() {
    const params = new URLSearchParams();
    for (const name of ["q", "level", "service", "host"]) {
      const value = $("log-" + name).value.trim();
      if (value) params.set(name, value);
    }
    return params;
  }

  function marked(text) {
    // "a <em>b</em> c" -> [text, <mark>b</mark>, text], never parsed as HTML
    const parts = String(text).split(/<\/?em>/);
    return parts.map((part, i) => (i % 2 ? window.Lookout.el("mark", { textContent: part }) : part));
  }

  function line(entry) {
    const doc = entry.doc || {};
    const hl = entry.highlight || {};
    if (hl.message) return marked(hl.message[0]);
    if (doc.message !== undefined) return [String(doc.message)];
    const request = [doc.method, hl.path ? null : doc.path].filter(Boolean).join(" ");
    return [request + " ", ...(hl.path ? marked(hl.path[0]) : []), ` → ${doc.status ?? ""}`];
  }

  function row(entry, live) {
    const el = window.Lookout.el;
    const doc = entry.doc || {};
    const when = entry.time ? new Date(entry.time).toLocaleString([], { hour12: false }) : "–";
    return el(
      "tr",
      { class: live ? "live" : null, "data-id": entry.id },
      el("td", {}, when),
      el("td", {}, doc.host ?? ""),
      el("td", {}, doc.service ?? ""),
      el("td", {}, doc.level ?? doc.status_class ?? ""),
      el("td", { class: "msg" }, ...line(entry)),
    );
  }

  function say(text) {
    $("log-msg").textContent = text;
    $("log-msg").hidden = !text;
  }

  function count() {
    $("log-count").textContent = String($("logs").tBodies[0].rows.length);
  }

  async function search(more) {
    const params = filters();
    params.set("from", $("log-from").value);
    params.set("limit", "100");
    if (more && cursor) params.set("cursor", cursor);
    const tbody = $("logs").tBodies[0];
    try {
      const resp = await window.Lookout.send("GET", "/api/logs/search?" + params.toString());
      const body = await resp.json();
      if (resp.status === 401) {
        say("sign in to search the logs");
        return;
      }
      if (!resp.ok) {
        say(body.error || `search failed (HTTP ${resp.status})`);
        return;
      }
      say("");
      const rows = body.entries.map((e) => row(e, false));
      if (more) tbody.append(...rows);
      else if (rows.length) tbody.replaceChildren(...rows);
      else window.Lookout.emptyRow(tbody, 5, "no log lines match");
      cursor = body.cursor;
      $("log-more").hidden = !cursor;
      count();
    } catch (err) {
      say("search failed: " + err);
    }
  }

  function show(entries) {
    const tbody = $("logs").tBodies[0];
    const empty = tbody.querySelector("td.empty");
    if (empty) empty.parentElement.remove();
    for (const entry of entries) tbody.prepend(row(entry, true));
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
    count();
  }

  // Reads one event stream to its end: "logs" events to show(), the last id and retry in state.
  async function readEvents(body, state) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const name = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (name === "id") state.lastId = text;
          else if (name === "event") event = text;
          else if (name === "data") data.push(text);
          else if (name === "retry" && /^\d+$/.test(text)) state.retry = Number(text);
        }
        if (event === "logs" && data.length) show(JSON.parse(data.join("\n")).entries || []);
      }
    }
  }

  function stopped(text) {
    say(text);
    $("log-follow").checked = false;
    tail = null;
  }

  async function follow(on) {
    if (tail) tail.abort();
    tail = null;
    if (!on) return;
    const control = new AbortController();
    tail = control;
    const state = { lastId: null, retry: RETRY_MS };
    say("");
    while (!control.signal.aborted) {
      try {
        const extra = { signal: control.signal, headers: {} };
        if (state.lastId) extra.headers["Last-Event-ID"] = state.lastId;
        const path = "/api/logs/tail?" + filters().toString();
        const resp = await window.Lookout.send("GET", path, undefined, extra);
        if (!resp.ok) {
          const body = await resp.json().catch(() => ({}));
          if (tail === control) stopped(`live tail stopped: ${body.error || "HTTP " + resp.status}`);
          return;
        }
        await readEvents(resp.body, state);
      } catch (err) {
        if (control.signal.aborted) return;
      }
      // the stream ended (the server's time limit, or the worker restarted): resume after a pause
      await new Promise((resolve) => setTimeout(resolve, state.retry));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("log-form").addEventListener("submit", (event) => {
      event.preventDefault();
      search(false);
      if ($("log-follow").checked) follow(true); // the filters may have changed
    });
    $("log-more").addEventListener("click", () => search(true));
    $("log-follow").addEventListener("change", (event) => follow(event.target.checked));
    document.addEventListener("lookout:auth", () => {
      search(false); // another caller: other tenants' lines
      if ($("log-follow").checked) follow(true);
    });
    search(false);
  });
})();
