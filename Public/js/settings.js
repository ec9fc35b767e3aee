// Project settings: the domain's description follows the chosen domain.
(function () {
  "use strict";
  var domain = document.getElementById("settings-domain");
  var text = document.getElementById("settings-domain-description");
  if (!domain || !text) return;
  domain.addEventListener("change", function () {
    var o = domain.options[domain.selectedIndex];
    text.textContent = o ? o.getAttribute("data-description") : "";
  });
})();
