// Selection on the Training images grid: click a box to select an image, shift-click
// another to select the range between, select the page or every matching image, then
// tag, untag or delete the selection in one request.
(function () {
  "use strict";
  var gallery = document.getElementById("gallery");
  var form = document.getElementById("bulk-form");
  if (!gallery || !form) return;
  var count = document.getElementById("selection-count");
  var ids = document.getElementById("bulk-ids");
  var scope = document.getElementById("bulk-scope");
  var all = document.getElementById("select-all");
  var buttons = form.querySelectorAll("button[type=submit]");
  var last = -1;

  function boxes() { return gallery.querySelectorAll("input.pick"); }

  function update() {
    var chosen = [], list = boxes();
    for (var i = 0; i < list.length; i++) {
      list[i].closest(".cell").classList.toggle("selected", list[i].checked);
      if (list[i].checked) chosen.push(list[i].value);
    }
    ids.value = chosen.join(",");
    var everything = scope.value === "all";
    var n = everything ? Number(all.getAttribute("data-matching")) : chosen.length;
    count.textContent = n === 0 ? "No images selected"
      : (everything ? "All " + n + " matching images selected" : n + " image" + (n === 1 ? "" : "s") + " selected");
    count.setAttribute("data-selected", String(n));
    for (var j = 0; j < buttons.length; j++) buttons[j].disabled = n === 0;
  }

  gallery.addEventListener("click", function (e) {
    var box = e.target;
    if (!box.classList || !box.classList.contains("pick")) return;
    scope.value = "selected";
    var index = Number(box.getAttribute("data-index"));
    if (e.shiftKey && last >= 0) {
      var list = boxes(), lo = Math.min(last, index), hi = Math.max(last, index);
      for (var i = lo; i <= hi; i++) list[i].checked = box.checked;
    }
    last = index;
    update();
  });

  function setAll(on) {
    var list = boxes();
    for (var i = 0; i < list.length; i++) list[i].checked = on;
  }
  document.getElementById("select-page").addEventListener("click", function () { scope.value = "selected"; setAll(true); update(); });
  document.getElementById("select-none").addEventListener("click", function () { scope.value = "selected"; setAll(false); last = -1; update(); });
  all.addEventListener("click", function () { setAll(true); scope.value = "all"; update(); });

  form.addEventListener("submit", function (e) {
    var action = e.submitter ? e.submitter.value : "";
    var n = Number(count.getAttribute("data-selected"));
    if (action === "delete" && !window.confirm("Delete " + (n === 1 ? "1 image" : n + " images") + "? This cannot be undone.")) e.preventDefault();
  });
  update();
})();
