// The New project dialog: the domains offered follow the project type, the domain's
// description follows the domain, and the classification type shows only where it applies.
(function () {
  "use strict";
  var form = document.getElementById("create-project");
  if (!form) return;
  var domain = document.getElementById("project-domain");
  var description = document.getElementById("domain-description");
  var kinds = document.getElementById("classification-types");

  function type() {
    var checked = form.querySelector("input[name=projectType]:checked");
    return checked ? checked.value : "Classification";
  }
  function showDescription() {
    var option = domain.options[domain.selectedIndex];
    description.textContent = option ? option.getAttribute("data-description") : "";
  }
  function filter() {
    var want = type(), firstShown = null, currentOk = false;
    for (var i = 0; i < domain.options.length; i++) {
      var o = domain.options[i], ok = o.getAttribute("data-type") === want;
      o.hidden = !ok;
      o.disabled = !ok;
      if (ok && firstShown === null) firstShown = i;
      if (ok && i === domain.selectedIndex) currentOk = true;
    }
    if (!currentOk && firstShown !== null) domain.selectedIndex = firstShown;
    kinds.hidden = want !== "Classification";
    showDescription();
  }
  form.addEventListener("change", function (e) {
    if (e.target.name === "projectType") filter();
    if (e.target === domain) showDescription();
  });
  filter();
})();
