// Progressive enhancement: the pages read fine without it. With it, event tables marked
// data-stream receive new events over Server-Sent Events, and rebuild buttons post in the
// background (the same form post, answered as JSON) instead of reloading the page.
"use strict";
(function () {
  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    return td;
  }
  function summary(detail) {
    var parts = [];
    Object.keys(detail || {}).sort().forEach(function (k) {
      var v = detail[k];
      parts.push(k + "=" + (typeof v === "object" ? JSON.stringify(v) : String(v)));
    });
    return parts.join(" ").slice(0, 300);
  }
  function announce(text) {
    var live = document.getElementById("live");
    if (live) { live.textContent = text; }
  }
  function stream(tbody) {
    if (!window.EventSource) { return; }
    var src = new EventSource("/api/v1/events/stream" + (tbody.dataset.stream || ""));
    src.addEventListener("hardbase", function (msg) {
      var e = JSON.parse(msg.data);
      if (tbody.querySelector('tr[data-id="' + e.id + '"]')) { return; }
      var tr = document.createElement("tr");
      tr.dataset.id = e.id;
      tr.className = "new";
      var kind = document.createElement("span");
      kind.className = "kind kind-" + e.kind;
      kind.textContent = e.kind;
      var kindCell = document.createElement("td");
      kindCell.appendChild(kind);
      var detail = cell(summary(e.detail));
      detail.className = "detail";
      tr.appendChild(cell(e.ts));
      tr.appendChild(cell(e.image));
      tr.appendChild(cell(e.job || ""));
      tr.appendChild(kindCell);
      tr.appendChild(detail);
      tbody.insertBefore(tr, tbody.firstChild);
      announce(e.image + ": " + e.kind);
    });
  }
  function rebuild(form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = ev.submitter || form.querySelector("button");
      if (button) { button.disabled = true; }
      var data = new FormData(form);
      if (ev.submitter && ev.submitter.name) { data.set(ev.submitter.name, ev.submitter.value); }
      fetch(form.action, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (r) { return r.json(); }).then(function (doc) {
        var text = doc.message || (doc.error && doc.error.message) || "done";
        var note = document.createElement("p");
        note.className = "notice rebuild-result";
        note.setAttribute("role", "status");
        note.textContent = text;
        var main = document.getElementById("main");
        main.insertBefore(note, main.children[1] || null);
        announce(text);
      }).catch(function () { announce("the rebuild request failed"); })
        .finally(function () { if (button) { button.disabled = false; } });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("tbody[data-stream]").forEach(stream);
    document.querySelectorAll("form.rebuild").forEach(rebuild);
  });
})();
