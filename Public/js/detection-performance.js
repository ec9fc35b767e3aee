// The object-detection performance sliders: precision, recall, per-tag AP and mAP
// recomputed exactly from the held-out images' truth boxes and raw detections the
// iteration keeps, with the server's matching (per tag, most probable detection first,
// each truth box matched once at IoU >= the overlap threshold) and VOC all-point AP.
(function () {
  "use strict";
  var root = document.getElementById("detection-performance");
  if (!root) return;
  var data = JSON.parse(root.getAttribute("data-heldout"));   // {tags: n, images: [{truth: [[tag,l,t,w,h]], detections: [[tag,p,l,t,w,h]]}]}
  var threshold = document.getElementById("threshold"), overlap = document.getElementById("overlap");

  function pct(v) { return (v * 100).toFixed(1) + "%"; }
  function iou(a, b) {   // [l, t, w, h]
    var iw = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
    var ih = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0;
    var inter = iw * ih;
    return inter / Math.max(a[2] * a[3] + b[2] * b[3] - inter, 1e-12);
  }
  function matches(image, minOverlap) {
    var used = image.truth.map(function () { return false; });
    var order = image.detections.map(function (_, i) { return i; })
      .sort(function (a, b) { return image.detections[b][1] - image.detections[a][1]; });
    var hit = image.detections.map(function () { return false; });
    order.forEach(function (i) {
      var d = image.detections[i], best = -1, bestIoU = minOverlap;
      image.truth.forEach(function (t, j) {
        if (used[j] || t[0] !== d[0]) return;
        var v = iou(t.slice(1), d.slice(2));
        if (v >= bestIoU) { bestIoU = v; best = j; }
      });
      if (best >= 0) { used[best] = true; hit[i] = true; }
    });
    return hit;
  }
  function ap(scored, truths) {
    if (truths === 0) return 0;
    scored.sort(function (a, b) { return b[0] - a[0]; });
    var tp = 0, prec = [], rec = [];
    scored.forEach(function (s, k) { if (s[1]) tp++; prec.push(tp / (k + 1)); rec.push(tp / truths); });
    for (var k = prec.length - 2; k >= 0; k--) prec[k] = Math.max(prec[k], prec[k + 1]);
    var area = 0, previous = 0;
    for (k = 0; k < prec.length; k++) { area += (rec[k] - previous) * prec[k]; previous = rec[k]; }
    return area;
  }
  function update() {
    var t = Math.fround(Number(threshold.value) / 100), o = Math.fround(Number(overlap.value) / 100);
    document.getElementById("threshold-value").textContent = threshold.value + "%";
    document.getElementById("overlap-value").textContent = overlap.value + "%";
    var scored = [], truths = [], i;
    for (i = 0; i < data.tags; i++) { scored.push([]); truths.push(0); }
    data.images.forEach(function (image) {
      image.truth.forEach(function (b) { truths[b[0]]++; });
      var hit = matches(image, o);
      image.detections.forEach(function (d, k) { scored[d[0]].push([d[1], hit[k]]); });
    });
    var TP = 0, P = 0, T = 0, sum = 0, measured = 0;
    for (i = 0; i < data.tags; i++) {
      var above = scored[i].filter(function (s) { return Math.fround(s[0]) >= t; });
      var tp = above.filter(function (s) { return s[1]; }).length;
      TP += tp; P += above.length; T += truths[i];
      var a = ap(scored[i].slice(), truths[i]);
      if (truths[i] > 0) { sum += a; measured++; }
      root.querySelector('.tag-precision[data-tag="' + i + '"]').textContent = pct(above.length ? tp / above.length : 0);
      root.querySelector('.tag-recall[data-tag="' + i + '"]').textContent = pct(truths[i] ? tp / truths[i] : 0);
      root.querySelector('.tag-ap[data-tag="' + i + '"]').textContent = pct(a);
    }
    document.getElementById("precision").textContent = pct(P ? TP / P : 0);
    document.getElementById("recall").textContent = pct(T ? TP / T : 0);
    document.getElementById("map").textContent = pct(measured ? sum / measured : 0);
  }
  threshold.addEventListener("input", update);
  overlap.addEventListener("input", update);
})();
