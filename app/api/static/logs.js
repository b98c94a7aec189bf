// Lookout live page, Logs view: search (/api/logs/search, pages by cursor) and a "follow" switch
// that streams new lines (/api/logs/tail, Server-Sent Events; the browser resumes it with
// Last-Event-ID). Values go into the page as text; highlights become <mark> elements.
"use strict";

(() => {
  const MAX_ROWS = 500;
  const $ = (id) => document.getElementById(id);
  let cursor = null;
  let source = null;

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
      const resp = await fetch("/api/logs/search?" + params.toString());
      const body = await resp.json();
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

  function follow(on) {
    if (source) source.close();
    source = null;
    if (!on) return;
    source = new EventSource("/api/logs/tail?" + filters().toString());
    source.addEventListener("logs", (event) => {
      const tbody = $("logs").tBodies[0];
      const empty = tbody.querySelector("td.empty");
      if (empty) empty.parentElement.remove();
      const entries = JSON.parse(event.data).entries;
      for (const entry of entries) tbody.prepend(row(entry, true));
      while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
      count();
    });
    source.addEventListener("open", () => say(""));
    source.addEventListener("error", () => {
      if (source && source.readyState === EventSource.CLOSED) {
        say("live tail stopped (too many open, or the worker is gone); switch follow on again");
        $("log-follow").checked = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("log-form").addEventListener("submit", (event) => {
      event.preventDefault();
      search(false);
      if ($("log-follow").checked) follow(true); // the filters may have changed
    });
    $("log-more").addEventListener("click", () => search(true));
    $("log-follow").addEventListener("change", (event) => follow(event.target.checked));
    search(false);
  });
})();
