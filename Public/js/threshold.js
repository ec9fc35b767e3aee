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
    document.getElementById("precision").textContent = pct(ratio(TP, TP + FP));
    document.getElementById("recall").textContent = pct(ratio(TP, TP + FN));
  }

  slider.addEventListener("input", update);
})();
