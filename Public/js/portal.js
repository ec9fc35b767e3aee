// Behaviour every portal page shares: confirmation before destructive forms, dialogs,
// copy buttons and show/hide of masked values. Pages work without it except for these.
(function () {
  "use strict";

  // <form data-confirm="Delete this project?">: asks first; Cancel keeps everything.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  }, true);

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) resolve(); else reject(new Error("copy refused"));
    });
  }

  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-copy], [data-open-dialog], [data-close-dialog], [data-reveal]") : null;
    if (!el) return;
    if (el.hasAttribute("data-copy")) {
      var source = document.getElementById(el.getAttribute("data-copy"));
      var text = source ? (source.getAttribute("data-value") || source.value || source.textContent) : "";
      var label = el.getAttribute("data-label") || el.textContent;
      el.setAttribute("data-label", label);
      copyText(text).then(function () {
        el.textContent = "Copied";
        el.setAttribute("data-copied", "true");
      }, function () {
        el.textContent = "Select and copy";
        if (source && source.select) source.select();
      });
      setTimeout(function () { el.textContent = label; }, 2500);
    } else if (el.hasAttribute("data-open-dialog")) {
      var dialog = document.getElementById(el.getAttribute("data-open-dialog"));
      if (dialog && dialog.showModal) { e.preventDefault(); dialog.showModal(); }
    } else if (el.hasAttribute("data-close-dialog")) {
      var open = el.closest("dialog");
      if (open) { e.preventDefault(); open.close(); }
    } else if (el.hasAttribute("data-reveal")) {
      var masked = document.getElementById(el.getAttribute("data-reveal"));
      if (!masked) return;
      var shown = masked.getAttribute("data-shown") === "true";
      masked.textContent = shown ? masked.getAttribute("data-masked") : masked.getAttribute("data-value");
      masked.setAttribute("data-shown", shown ? "false" : "true");
      el.textContent = shown ? "Show" : "Hide";
      el.setAttribute("aria-pressed", shown ? "false" : "true");
    }
  });

  // A dialog the server rendered open (its form came back with an error) opens at load.
  document.addEventListener("DOMContentLoaded", function () {
    var open = document.querySelectorAll("dialog[data-open='true']");
    for (var i = 0; i < open.length; i++) if (open[i].showModal) open[i].showModal();
  });
})();
