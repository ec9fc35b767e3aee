// The image viewer: the left and right arrow keys open the previous and next image of
// the list it was opened from (not while typing, or while the box editor has the keys).
(function () {
  "use strict";
  var nav = document.getElementById("viewer-nav");
  if (!nav) return;
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    var t = e.target, tag = t && t.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || (t.closest && t.closest("#box-editor, dialog"))) return;
    var link = e.key === "ArrowLeft" ? document.getElementById("prev-image")
             : e.key === "ArrowRight" ? document.getElementById("next-image") : null;
    if (link && link.href) { e.preventDefault(); window.location.href = link.href; }
  });
})();
