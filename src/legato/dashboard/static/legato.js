// legato dashboard: confirmations and live updates. Every page works without this script.
(function () {
  "use strict";

  // Forms with data-confirm ask first (the server does the same action without script).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  function setBadge(el, status) {
    if (!el) return;
    var badge = el.classList.contains("badge") ? el : el.querySelector(".badge");
    var target = badge || el;
    target.textContent = status;
    if (badge) badge.className = "badge s-" + status.toLowerCase();
  }

  function recount(from, to) {
    [[from, -1], [to, 1]].forEach(function (pair) {
      if (!pair[0]) return;
      var el = document.querySelector('#counts [data-status="' + pair[0] + '"] .count');
      if (el) el.textContent = String(Math.max(0, (parseInt(el.textContent, 10) || 0) + pair[1]));
    });
  }

  function listen(url, onRun) {
    if (!window.EventSource) return;
    var source = new EventSource(url);
    source.addEventListener("open", function () {  // from now on, no change is missed
      document.documentElement.setAttribute("data-live", "1");
    });
    source.addEventListener("run", function (message) {
      var change;
      try { change = JSON.parse(message.data); } catch (e) { return; }
      onRun(change);
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  var runs = document.getElementById("runs");
  if (runs) {
    var known = {};
    runs.querySelectorAll("tr[data-run-id]").forEach(function (row) {
      var cell = row.querySelector("td.status");
      known[row.getAttribute("data-run-id")] = cell ? cell.textContent.trim() : "";
    });
    // A run not on the page (a new one): on the first page, the list and its counts are
    // fetched again and swapped in (the server filters and orders them; ticked boxes stay).
    var first = !/[?&]cursor=/.test(window.location.search);
    var listing = false, listAgain = false;
    var refreshList = function () {
      if (listing) { listAgain = true; return; }
      listing = true;
      window.fetch(window.location.pathname + window.location.search,
                   { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) return;
          var fresh = new DOMParser().parseFromString(text, "text/html");
          var body = runs.querySelector("tbody"), next = fresh.querySelector("#runs tbody");
          var counts = document.getElementById("counts");
          var freshCounts = fresh.getElementById("counts");
          if (!body || !next) return;
          var ticked = {};
          body.querySelectorAll("input[name=ids]:checked").forEach(function (box) {
            ticked[box.value] = true;
          });
          var imported = document.importNode(next, true);
          imported.querySelectorAll("input[name=ids]").forEach(function (box) {
            box.checked = !!ticked[box.value];
          });
          body.replaceWith(imported);
          if (counts && freshCounts) counts.replaceWith(document.importNode(freshCounts, true));
          known = {};
          runs.querySelectorAll("tr[data-run-id]").forEach(function (row) {
            var cell = row.querySelector("td.status");
            known[row.getAttribute("data-run-id")] = cell ? cell.textContent.trim() : "";
          });
        })
        .catch(function () { /* the next change tries again */ })
        .then(function () {
          listing = false;
          if (listAgain) { listAgain = false; refreshList(); }
        });
    };
    listen("/api/v1/stream?kinds=runs", function (change) {
      var id = change.workflow_id, status = change.status;
      if (!id || !status) return;
      var rows = runs.querySelectorAll("tr[data-run-id]");
      var shown = false;
      for (var i = 0; i < rows.length; i++) {
        if (rows[i].getAttribute("data-run-id") === id) {
          setBadge(rows[i].querySelector("td.status"), status);
          shown = true;
        }
      }
      if (!shown && first) {
        refreshList();
        return;
      }
      var before = Object.prototype.hasOwnProperty.call(known, id) ? known[id] : null;
      if (before !== status) {
        recount(before, status);
        known[id] = status;
      }
    });
  }

  // A run's page: its status changes at once from the stream; then the page is fetched again
  // and its server-rendered parts (what it waits for, result or error, timeline, diagram,
  // and the actions once the status changed) are swapped in, without a reload.
  var run = document.getElementById("run");
  if (run) {
    var runId = run.getAttribute("data-run-id");
    var fetching = false, again = false;
    var refresh = function (statusChanged) {
      if (fetching) { again = true; return; }
      fetching = true;
      window.fetch(window.location.pathname, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) return;
          var fresh = new DOMParser().parseFromString(text, "text/html");
          var ids = ["status", "waiting-for", "outcome", "timeline", "diagram"];
          if (statusChanged) ids.push("actions-area");
          ids.forEach(function (id) {
            var now = document.getElementById(id), next = fresh.getElementById(id);
            if (now && next) now.replaceWith(document.importNode(next, true));
          });
        })
        .catch(function () { /* the next change tries again */ })
        .then(function () {
          fetching = false;
          if (again) { again = false; refresh(true); }
        });
    };
    listen("/api/v1/stream?kinds=runs&workflow_id=" + encodeURIComponent(runId), function (change) {
      if (change.workflow_id !== runId || !change.status) return;
      var statusEl = document.getElementById("status");
      var was = statusEl ? statusEl.textContent.trim() : "";
      setBadge(statusEl, change.status);
      refresh(was !== change.status);
    });
  }
})();
