// crmdav console: the only script. The live preview of a visibility rule: as the form changes, it
// is sent (with the session's CSRF token) to the preview endpoint, and the JSON answer is shown.
// Without JavaScript the form's Preview button shows the same preview, rendered by the server.
(function () {
  "use strict";
  var form = document.getElementById("rule-form");
  var out = document.getElementById("preview");
  if (!form || !out) return;
  var timer = null;
  var latest = 0;

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // As the server renders it: the first few codes, then a count.
  var SHOWN = 12;
  function codes(list) {
    var text = list.slice(0, SHOWN).map(function (c) { return esc(c.code); }).join(" ");
    return list.length > SHOWN ? text + " \u2026 and " + (list.length - SHOWN) + " more" : text;
  }

  function render(preview) {
    var html = "<h2>Preview</h2>";
    if (preview.warning) html += '<p class="warning" role="alert">' + esc(preview.warning) + "</p>";
    html += '<p>The rule matches <b id="matched">' + esc(preview.matched_clients) + "</b> client(s).</p>";
    html += '<div class="table"><table><thead><tr><th>Rep</th><th>Sees now</th><th>With the rule</th>' +
      "<th>Added</th><th>Removed</th></tr></thead><tbody>";
    preview.reps.forEach(function (rep) {
      html += '<tr data-login="' + esc(rep.login) + '"><td>' + esc(rep.login) + "</td><td>" + esc(rep.before) +
        '</td><td class="after">' + esc(rep.after) + '</td><td class="added">' + codes(rep.added) +
        '</td><td class="removed">' + codes(rep.removed) + "</td></tr>";
    });
    out.innerHTML = html + "</tbody></table></div>";
  }

  function refresh() {
    var mine = ++latest;
    var body = new URLSearchParams(new FormData(form));
    fetch(form.dataset.preview, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": document.body.dataset.csrf || "" }
    }).then(function (response) {
      return response.json().then(function (json) { return { ok: response.ok, json: json }; });
    }).then(function (answer) {
      if (mine !== latest) return; // a newer preview is on its way
      if (answer.ok) {
        render(answer.json);
      } else {
        out.innerHTML = '<h2>Preview</h2><p class="muted">' + esc(answer.json.error || "no preview") + "</p>";
      }
    }).catch(function () { /* the Preview button still works */ });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
