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
    listen("/api/v1/stream?kinds=runs", function (change) {
      var id = change.workflow_id, status = change.status;
      if (!id || !status) return;
      var rows = runs.querySelectorAll("tr[data-run-id]");
      for (var i = 0; i < rows.length; i++) {
        if (rows[i].getAttribute("data-run-id") === id) {
          setBadge(rows[i].querySelector("td.status"), status);
        }
      }
      var before = Object.prototype.hasOwnProperty.call(known, id) ? known[id] : null;
      if (before !== status) {
        recount(before, status);
        known[id] = status;
      }
    });
  }

  var run = document.getElementById("run");
  if (run) {
    var runId = run.getAttribute("data-run-id");
    var statusEl = document.getElementById("status");
    var terminal = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"];
    listen("/api/v1/stream?kinds=runs&workflow_id=" + encodeURIComponent(runId), function (change) {
      if (change.workflow_id !== runId || !change.status) return;
      var was = statusEl.textContent.trim();
      setBadge(statusEl, change.status);
      var waiting = document.getElementById("waiting-for");
      if (waiting && change.status !== "WAITING") waiting.textContent = change.status === "RUNNING" ? "running" : "nothing";
      if (was !== change.status && terminal.indexOf(change.status) >= 0) {
        var note = document.getElementById("reload-note");
        if (!note) {
          note = document.createElement("p");
          note.id = "reload-note";
          note.className = "hint";
          var link = document.createElement("a");
          link.href = window.location.pathname;
          link.textContent = "Reload for the result and the full timeline";
          note.appendChild(link);
          statusEl.parentNode.appendChild(note);
        }
      }
    });
  }
})();
