// Live updates for every page that shows line figures. The server pushes the whole state of
// every line as one `summary` event (Server-Sent Events); this script writes it into the page,
// formatting numbers for the page's language and times for the plant's time zone. The browser's
// EventSource reconnects by itself after a server restart; the banner says so meanwhile.
// Embedded in the binary and served from /assets/live.js: nothing is fetched from elsewhere.
(function () {
  "use strict";
  var body = document.body;
  var lang = body.dataset.lang || "en", zone = body.dataset.zone || "UTC";
  var wordsEl = document.getElementById("words");
  var words = wordsEl ? JSON.parse(wordsEl.textContent) : {};
  // A station's downtime reason in the page's language (the server sends both).
  function reasonOf(s) {
    return (lang === "vi" && s.reason_vi) || s.reason;
  }
  var shapes = { running: "▲ ", down: "■ ", idle: "● ", no_data: "? " };
  function dec(v, d) {
    var s = v.toFixed(d), parts = s.split("."), int = parts[0], neg = int[0] === "-";
    if (neg) int = int.slice(1);
    var g = lang === "vi" ? "." : ",", p = lang === "vi" ? "," : ".";
    int = int.replace(/\B(?=(\d{3})+(?!\d))/g, g);
    return (neg ? "-" : "") + int + (parts[1] ? p + parts[1] : "");
  }
  function pct(v) { return v === null || v === undefined ? "—" : dec(v * 100, 1) + " %"; }
  function time(iso) {
    return new Date(iso).toLocaleTimeString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false });
  }
  function set(el, f, text) {
    var t = el.querySelector('[data-f="' + f + '"]');
    if (t && t.textContent !== text) t.textContent = text;
  }
  function renderLine(el, l) {
    el.dataset.status = l.status;
    set(el, "status", shapes[l.status] + words[l.status]);
    set(el, "output", dec(l.output, 0));
    set(el, "plan", l.plan === null ? "—" : dec(l.plan, 0));
    set(el, "plan_label", l.watched_from ? words.plan_from_watch + " " + time(l.watched_from) : words.plan_so_far);
    set(el, "fpy", pct(l.fpy));
    set(el, "oee", pct(l.oee));
    set(el, "held", dec(l.held_units, 0));
    set(el, "shift", l.shift || words.off_shift);
    set(el, "unrecorded", l.unrecorded !== null && l.unrecorded >= 0.005 ? "⚠ " + pct(l.unrecorded) + " " + words.unrecorded : "");
    var downList = el.querySelector('[data-f="down"]');
    if (downList) downList.dataset.anyDown = l.down.length ? "true" : "false";
    set(el, "down", l.down.length ? l.down.map(function (s) {
      return s.station + ": " + (reasonOf(s) || "?") + " (" + words.since + " " + time(s.since) + ")";
    }).join(" · ") : words.none_down);
  }
  function renderStations(l) {
    l.stations.forEach(function (s) {
      var el = document.querySelector('[data-station="' + l.line + "/" + s.station + '"]');
      if (!el) return;
      var state = s.state || "no_data";
      el.dataset.state = state;
      set(el, "state", s.state ? words["state_" + s.state] : words.no_data);
      set(el, "since", s.since ? words.since + " " + time(s.since) : "");
      set(el, "reason", reasonOf(s) || "");
    });
  }
  // Charts are drawn on the server: refetch this page's charts now and then, not per event.
  var charts = document.getElementById("charts"), chartsAt = Date.now();
  function refreshCharts() {
    if (!charts || Date.now() - chartsAt < 20000) return;
    chartsAt = Date.now();
    fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (!html) return;
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("charts");
      if (fresh) charts.innerHTML = fresh.innerHTML;
    }).catch(function () {});
  }
  function render(lines) {
    lines.forEach(function (l) {
      document.querySelectorAll('[data-line="' + l.line + '"]').forEach(function (el) { renderLine(el, l); });
      renderStations(l);
    });
    body.dataset.updated = String(Date.now());
    refreshCharts();
  }
  // The reports page: a report takes seconds to make; say so, counting, until the page answers.
  var reportForm = document.getElementById("report-form");
  if (reportForm) {
    reportForm.addEventListener("submit", function () {
      var busy = document.getElementById("report-busy"), started = Date.now();
      if (!busy) return;
      busy.hidden = false;
      setInterval(function () {
        busy.textContent = busy.dataset.text + " " + Math.round((Date.now() - started) / 1000) + " s";
      }, 500);
    });
  }
  if (!document.querySelector("[data-line]")) return;
  var stale = document.getElementById("stale");
  var source = new EventSource("/events");
  source.addEventListener("summary", function (e) {
    if (stale) stale.style.display = "none";
    body.dataset.connected = "yes";
    render(JSON.parse(e.data));
  });
  source.onerror = function () {
    if (stale) stale.style.display = "block";
    body.dataset.connected = "no";
  };
})();
