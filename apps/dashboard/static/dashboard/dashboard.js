/* Progressive help only: every page works without it, and the server checks everything again. */
(function () {
  "use strict";

  // JSON editors: refuse to submit text that JSON.parse rejects, and say why next to the field.
  function jsonError(textarea) {
    var kind = textarea.form && textarea.form.elements.kind;
    if (kind && kind.value !== "json") return "";
    try { JSON.parse(textarea.value); return ""; } catch (error) { return "Not valid JSON: " + error.message; }
  }
  function showError(field, message) {
    var box = document.getElementById(field.id + "-error");
    field.setAttribute("aria-invalid", message ? "true" : "false");
    if (box) { box.textContent = message; box.hidden = !message; }
  }
  document.addEventListener("submit", function (event) {
    var editors = event.target.querySelectorAll("textarea[data-json]");
    for (var i = 0; i < editors.length; i++) {
      var message = jsonError(editors[i]);
      showError(editors[i], message);
      if (message) { event.preventDefault(); editors[i].focus(); return; }
    }
  }, true);
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-json][aria-invalid=true]")) {
      showError(event.target, jsonError(event.target));
    }
  });

  // The configs table follows the namespace revision: a cheap conditional GET
  // every two seconds, and a fresh table only when the revision moved.
  var live = document.getElementById("live-configs");
  if (!live || !window.fetch) return;
  var table = document.getElementById("config-table");
  var notice = document.getElementById("live-notice");
  var meta = table.querySelector("[data-revision]");
  var revision = meta ? meta.getAttribute("data-revision") : "";
  var pending = false;

  function editing() {
    return table.querySelector("details[open]") || (document.activeElement && table.contains(document.activeElement) &&
      document.activeElement.matches("input, textarea, select"));
  }
  function reloadTable() {
    return fetch(live.getAttribute("data-table-url"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        // A redirect here is to the sign-in page: keep the table, the next poll says why.
        if (!response.ok || response.redirected) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        table.innerHTML = html;
        meta = table.querySelector("[data-revision]");
        revision = meta ? meta.getAttribute("data-revision") : revision;
        notice.hidden = true;
        pending = false;
      });
  }
  function signedOut() {
    window.clearInterval(timer);
    notice.querySelector("span").textContent = "You are signed out: reload the page to sign in again.";
    notice.querySelector("button").hidden = true;
    notice.hidden = false;
  }
  function poll() {
    if (document.hidden) return;
    fetch(live.getAttribute("data-revision-url"), {
      credentials: "same-origin", cache: "no-store", headers: { "If-None-Match": '"' + revision + '"' }
    }).then(function (response) {
      if (response.status === 401) { signedOut(); return; }
      if (response.status === 304 || !response.ok) return;
      return response.json().then(function (body) {
        if (String(body.revision) === revision) return;
        // Someone is typing in the table: say so instead of replacing their form.
        if (editing()) { pending = true; notice.hidden = false; return; }
        return reloadTable();
      });
    }).catch(function () { /* the next poll tries again */ });
  }
  document.getElementById("live-reload").addEventListener("click", function () { reloadTable(); });
  var timer = window.setInterval(function () { if (pending && !editing()) { reloadTable(); } else { poll(); } }, 2000);
})();
