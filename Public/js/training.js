// Live training progress on the project page: polls the iterations while one trains.
(function () {
  "use strict";
  var script = document.getElementById("training-script");
  if (!script) return;
  var url = script.getAttribute("data-status");

  // As TrainingPages.paceText writes it.
  function paceText(rate, left) {
    var parts = [];
    if (rate !== null && rate !== undefined) parts.push((rate >= 10 ? Math.round(rate) : Math.round(rate * 10) / 10) + " images/s");
    if (left !== null && left !== undefined) parts.push(left < 90 ? "about " + Math.max(1, left) + " s left" : "about " + Math.round(left / 60) + " min left");
    return parts.join(" · ");
  }

  function poll() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      if (xhr.status !== 200) return;
      var training = false, known = 0;
      JSON.parse(xhr.responseText).forEach(function (it) {
        var status = document.querySelector('.it-status[data-iteration="' + it.id + '"]');
        var bars = document.querySelectorAll('progress[data-iteration="' + it.id + '"]');
        var pace = document.querySelector('.it-pace[data-iteration="' + it.id + '"]');
        if (status) { status.textContent = it.status; known++; }
        bars.forEach(function (bar) {
          bar.value = it.progress;
          bar.classList.toggle("done", it.status !== "Training" && it.status !== "Waiting to train");
        });
        if (pace) pace.textContent = paceText(it.imagesPerSecond, it.secondsLeft);
        if (it.status === "Training" || it.status === "Waiting to train") training = true;
      });
      if (training) setTimeout(poll, 1000);
      else if (document.querySelector('#iteration-progress')) window.location.reload();  // show the finished iteration's performance
    };
    xhr.send();
  }
  if (document.querySelector(".it-status")) poll();
})();
