// Draws detections over an image (quick test, predictions): each element with class
// "detections" holds its boxes in data-detections ([{tag, p, l, t, w, h}]) and shows
// those at least as probable as its threshold slider. `sightlineDetections(scope)` sets
// up views added later (the quick test dialog's results).
(function () {
  "use strict";
  function setUp(root) {
    if (root.getAttribute("data-ready") === "true") return;
    root.setAttribute("data-ready", "true");
    var boxes = JSON.parse(root.getAttribute("data-detections") || "[]");
    var slider = root.parentNode.querySelector(".detection-threshold");
    var label = root.parentNode.querySelector(".detection-threshold-value");
    function render() {
      var t = slider ? Number(slider.value) / 100 : 0.5;
      if (label) label.textContent = Math.round(t * 100) + "%";
      var old = root.querySelectorAll(".box");
      for (var i = 0; i < old.length; i++) old[i].parentNode.removeChild(old[i]);
      boxes.forEach(function (b) {
        if (b.p < t) return;
        var d = document.createElement("div");
        d.className = "box detection";
        d.style.left = (b.l * 100) + "%";
        d.style.top = (b.t * 100) + "%";
        d.style.width = (b.w * 100) + "%";
        d.style.height = (b.h * 100) + "%";
        var name = document.createElement("span");
        name.className = "label";
        name.textContent = b.tag + " " + (b.p * 100).toFixed(1) + "%";
        d.appendChild(name);
        root.appendChild(d);
      });
      root.setAttribute("data-shown", String(root.querySelectorAll(".box").length));
    }
    if (slider) slider.addEventListener("input", render);
    render();
  }
  window.sightlineDetections = function (scope) {
    Array.prototype.forEach.call((scope || document).querySelectorAll(".detections"), setUp);
  };
  window.sightlineDetections(document);
})();
