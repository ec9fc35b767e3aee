// The probability-threshold slider: precision and recall recomputed exactly from the
// held-out scores the iteration keeps (a tag is predicted when its probability ≥ t),
// with the same arithmetic as the server.
(function () {
  "use strict";
  var root = document.getElementById("performance");
  if (!root) return;
  var scores = JSON.parse(root.getAttribute("data-scores"));
  var slider = document.getElementById("threshold");

  function pct(v) { return (v * 100).toFixed(1) + "%"; }
  function ratio(a, b) { return b === 0 ? 0 : a / b; }

  function update() {
    var t = Number(slider.value) / 100;
    document.getElementById("threshold-value").textContent = slider.value + "%";
    var TP = 0, FP = 0, FN = 0;
    scores.forEach(function (xs, i) {
      var tp = 0, fp = 0, fn = 0;
      xs.forEach(function (x) {
        var predicted = Math.fround(x[0]) >= Math.fround(t), positive = x[1] === 1;
        if (predicted && positive) tp++; else if (predicted) fp++; else if (positive) fn++;
      });
      TP += tp; FP += fp; FN += fn;
      root.querySelector('.tag-precision[data-tag="' + i + '"]').textContent = pct(ratio(tp, tp + fp));
      root.querySelector('.tag-recall[data-tag="' + i + '"]').textContent = pct(ratio(tp, tp + fn));
    });
    moveMarks(t);
    document.getElementById("precision").textContent = pct(ratio(TP, TP + FP));
    document.getElementById("recall").textContent = pct(ratio(TP, TP + FN));
  }

  // Each PR curve marks the point the threshold gives: the lowest curve threshold at or
  // above it (the same point the server marks at 50 %).
  function moveMarks(t) {
    var curves = document.querySelectorAll("svg.pr-curve[data-points]");
    Array.prototype.forEach.call(curves, function (svg) {
      var points = JSON.parse(svg.getAttribute("data-points")), f = svg.getAttribute("data-frame").split(",").map(Number);
      var mark = svg.querySelector(".threshold-mark");
      if (!mark || !points.length) return;
      var at = null;
      points.forEach(function (p) { if (Math.fround(p[0]) >= Math.fround(t)) at = p; });
      if (!at) at = points[0];
      mark.setAttribute("cx", String(f[0] + f[2] * at[2]));
      mark.setAttribute("cy", String(f[1] + f[3] * (1 - at[1])));
    });
  }

  slider.addEventListener("input", update);
})();
