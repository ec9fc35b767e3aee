// The Quick test dialog: sends the file or URL without leaving the page and shows the
// image with its results in the dialog, so nothing is re-submitted on reload.
(function () {
  "use strict";
  var form = document.getElementById("quicktest-form");
  if (!form || form.getAttribute("data-ready") === "true") return;
  form.setAttribute("data-ready", "true");
  var out = document.getElementById("quicktest-output");
  var button = document.getElementById("quicktest-button");

  function message(cls, text) {
    out.textContent = "";
    var p = document.createElement("p");
    p.className = cls;
    p.id = cls === "error" ? "quicktest-error" : "quicktest-wait";
    p.textContent = text;
    out.appendChild(p);
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = document.getElementById("quicktest-file");
    var url = document.getElementById("quicktest-url");
    if (!(file.files && file.files.length) && !url.value.trim()) {
      message("error", "Choose an image file or give an image URL.");
      return;
    }
    button.disabled = true;
    message("hint", "Testing…");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      button.disabled = false;
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (err) { /* below */ }
      if (xhr.status === 200 && body && typeof body.html === "string") {
        out.innerHTML = body.html;  // rendered and escaped by the server
        if (window.sightlineDetections) window.sightlineDetections(out);
        var shown = out.querySelector("#quicktest-results");
        if (shown && shown.scrollIntoView) shown.scrollIntoView({ block: "nearest" });
      } else {
        message("error", body && body.message ? body.message : "The test failed (HTTP " + xhr.status + ").");
      }
    };
    xhr.onerror = function () { button.disabled = false; message("error", "The server could not be reached."); };
    xhr.send(new FormData(form));
  });
})();
