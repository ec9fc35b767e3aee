// While an export is being built, reload the iteration page every 1.5 s until it is done
// (the #export fragment keeps the reader at the Export section).
(function () {
  "use strict";
  var list = document.getElementById("exports");
  if (!list || list.getAttribute("data-pending") !== "true") return;
  setTimeout(function () { window.location.reload(); }, 1500);
})();
