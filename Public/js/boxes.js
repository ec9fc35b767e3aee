// Box editor for object-detection images. Boxes are kept normalised (0-1) like the API;
// drag on the image to draw, drag a box to move it, drag its corner handle to resize,
// select and press "Delete selected box" (or the Delete key). Every change is saved.
(function () {
  "use strict";
  var root = document.getElementById("box-editor");
  if (!root) return;
  var img = document.getElementById("editor-image");
  var tagSelect = document.getElementById("box-tag");
  var status = document.getElementById("box-status");
  var saveURL = root.getAttribute("data-save");
  var csrf = root.getAttribute("data-csrf");
  var boxes = JSON.parse(root.getAttribute("data-regions") || "[]");
  var tagNames = {};
  JSON.parse(root.getAttribute("data-tags") || "[]").forEach(function (t) { tagNames[t.id] = t.name; });
  var selected = -1, drag = null, MIN = 0.01;

  function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }

  function point(e) {
    var r = img.getBoundingClientRect();
    return { x: clamp((e.clientX - r.left) / r.width, 0, 1), y: clamp((e.clientY - r.top) / r.height, 0, 1) };
  }

  function render() {
    var old = root.querySelectorAll(".box");
    for (var i = 0; i < old.length; i++) old[i].parentNode.removeChild(old[i]);
    boxes.forEach(function (b, i) {
      var d = document.createElement("div");
      d.className = "box" + (i === selected ? " selected" : "");
      d.setAttribute("data-index", String(i));
      d.style.left = (b.left * 100) + "%";
      d.style.top = (b.top * 100) + "%";
      d.style.width = (b.width * 100) + "%";
      d.style.height = (b.height * 100) + "%";
      var label = document.createElement("span");
      label.className = "label";
      label.textContent = tagNames[b.tagId] || "?";
      var handle = document.createElement("span");
      handle.className = "handle";
      d.appendChild(label); d.appendChild(handle);
      root.appendChild(d);
    });
  }

  // One save in flight at a time, so the server stores the changes in the order they were
  // made; a change made meanwhile is sent when the reply comes. data-pending counts saves
  // scheduled, waiting or in flight, so a script (or a test) can tell "everything is saved"
  // from "an earlier state was saved"; data-saved is the box count of the last state saved.
  var inFlight = false, again = false, pending = null;
  function showPending() {
    root.setAttribute("data-pending", String((inFlight ? 1 : 0) + (again ? 1 : 0) + (pending ? 1 : 0)));
  }

  function save() {
    root.removeAttribute("data-saved");
    if (inFlight) { again = true; showPending(); return; }
    status.textContent = "saving…";
    inFlight = true;
    showPending();
    var sent = JSON.stringify(boxes), count = boxes.length;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", saveURL);
    xhr.timeout = 30000;
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.onloadend = function () {
      inFlight = false;
      if (again) { again = false; save(); } else { showPending(); }
    };
    xhr.onload = function () {
      if (xhr.status === 200) {
        if (!again) {
          status.textContent = "saved " + count + (count === 1 ? " box" : " boxes");
          root.setAttribute("data-saved", String(count));
        }
      } else {
        var msg = "HTTP " + xhr.status;
        try { msg = JSON.parse(xhr.responseText).message || msg; } catch (e) { /* plain status */ }
        status.textContent = "not saved: " + msg;
      }
    };
    xhr.onerror = function () { status.textContent = "not saved: network error"; };
    xhr.ontimeout = function () { status.textContent = "not saved: no answer"; };
    xhr.send(sent);
  }

  root.addEventListener("mousedown", function (e) {
    if (e.button !== 0) return;
    e.preventDefault();
    var p = point(e), target = e.target;
    var boxEl = target.closest ? target.closest(".box") : null;
    if (boxEl) {
      selected = parseInt(boxEl.getAttribute("data-index"), 10);
      var b = boxes[selected];
      tagSelect.value = b.tagId;
      drag = { mode: target.classList.contains("handle") ? "resize" : "move", start: p, orig: { left: b.left, top: b.top, width: b.width, height: b.height } };
    } else {
      boxes.push({ tagId: tagSelect.value, left: p.x, top: p.y, width: 0, height: 0 });
      selected = boxes.length - 1;
      drag = { mode: "draw", start: p };
    }
    render();
  });

  window.addEventListener("mousemove", function (e) {
    if (!drag || selected < 0) return;
    var p = point(e), b = boxes[selected], o = drag.orig;
    if (drag.mode === "draw") {
      b.left = Math.min(drag.start.x, p.x); b.top = Math.min(drag.start.y, p.y);
      b.width = Math.abs(p.x - drag.start.x); b.height = Math.abs(p.y - drag.start.y);
    } else if (drag.mode === "move") {
      b.left = clamp(o.left + p.x - drag.start.x, 0, 1 - o.width);
      b.top = clamp(o.top + p.y - drag.start.y, 0, 1 - o.height);
    } else {
      b.width = clamp(o.width + p.x - drag.start.x, MIN, 1 - o.left);
      b.height = clamp(o.height + p.y - drag.start.y, MIN, 1 - o.top);
    }
    render();
  });

  window.addEventListener("mouseup", function () {
    if (!drag) return;
    var b = boxes[selected], mode = drag.mode, o = drag.orig;
    drag = null;
    if (mode === "draw" && (b.width < MIN || b.height < MIN)) {
      boxes.splice(selected, 1);   // a click, not a box
      selected = -1;
      render();
      return;
    }
    render();
    // A click that selects a box moves nothing: nothing to save.
    if (o && b.left === o.left && b.top === o.top && b.width === o.width && b.height === o.height) return;
    save();
  });

  function removeSelected() {
    if (selected < 0) return;
    boxes.splice(selected, 1);
    selected = -1;
    render();
    save();
  }

  document.getElementById("delete-box").addEventListener("click", removeSelected);

  // Suggestions from the latest trained iteration: confident boxes not already drawn
  // are added (and saved) for the user to keep, fix or delete.
  var suggest = document.getElementById("suggest-boxes");
  if (suggest) suggest.addEventListener("click", function () {
    status.textContent = "finding boxes…";
    var xhr = new XMLHttpRequest();
    xhr.open("POST", suggest.getAttribute("data-url"));
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.onload = function () {
      if (xhr.status !== 200) { status.textContent = "no suggestions: HTTP " + xhr.status; return; }
      var added = 0;
      JSON.parse(xhr.responseText).forEach(function (p) {
        if (p.confidence < 0.5 || !tagNames[p.tagId]) return;
        var overlapping = boxes.some(function (b) {
          var iw = Math.min(b.left + b.width, p.left + p.width) - Math.max(b.left, p.left);
          var ih = Math.min(b.top + b.height, p.top + p.height) - Math.max(b.top, p.top);
          return iw > 0 && ih > 0 && iw * ih > 0.5 * Math.min(b.width * b.height, p.width * p.height);
        });
        if (overlapping || p.width < MIN || p.height < MIN) return;
        boxes.push({ tagId: p.tagId, left: p.left, top: p.top, width: p.width, height: p.height });
        added++;
      });
      root.setAttribute("data-suggested", String(added));
      if (added === 0) { status.textContent = "no new suggestions"; return; }
      render();
      save();
    };
    xhr.onerror = function () { status.textContent = "no suggestions: network error"; };
    xhr.send();
  });
  document.addEventListener("keydown", function (e) {
    if ((e.key === "Delete" || e.key === "Backspace") && selected >= 0 && e.target === document.body) removeSelected();
  });

  // The keyboard does what the mouse does, on the focused editor: N draws a new box,
  // [ and ] choose the previous or next box, arrows move it (Shift: further), Alt+arrows
  // resize it, Delete removes it, + and - zoom. Moves are saved once the keys stop.
  function saveSoon() {
    if (pending) clearTimeout(pending);
    pending = setTimeout(function () { pending = null; save(); }, 400);
    showPending();
  }
  function announce(text) { status.textContent = text; }
  root.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey) return;  // the browser's own zoom and history keys
    var step = e.shiftKey ? 0.05 : 0.01, b = selected >= 0 ? boxes[selected] : null, handled = true;
    if (e.key === "n" || e.key === "N") {
      boxes.push({ tagId: tagSelect.value, left: 0.35, top: 0.35, width: 0.3, height: 0.3 });
      selected = boxes.length - 1;
      render(); save();
      announce("new box " + (selected + 1) + " of " + boxes.length + " (" + (tagNames[tagSelect.value] || "?") + ")");
    } else if ((e.key === "]" || e.key === "[") && boxes.length) {
      selected = e.key === "]" ? (selected + 1) % boxes.length : (selected <= 0 ? boxes.length - 1 : selected - 1);
      tagSelect.value = boxes[selected].tagId;
      render();
      announce("box " + (selected + 1) + " of " + boxes.length + " (" + (tagNames[boxes[selected].tagId] || "?") + ")");
    } else if (b && e.key.indexOf("Arrow") === 0) {
      var dx = e.key === "ArrowLeft" ? -step : e.key === "ArrowRight" ? step : 0;
      var dy = e.key === "ArrowUp" ? -step : e.key === "ArrowDown" ? step : 0;
      if (e.altKey) {
        b.width = clamp(b.width + dx, MIN, 1 - b.left);
        b.height = clamp(b.height + dy, MIN, 1 - b.top);
      } else {
        b.left = clamp(b.left + dx, 0, 1 - b.width);
        b.top = clamp(b.top + dy, 0, 1 - b.height);
      }
      render(); saveSoon();
    } else if (b && (e.key === "Delete" || e.key === "Backspace")) {
      removeSelected();
    } else if (e.key === "+" || e.key === "=") {
      zoomBy(1.25);
    } else if (e.key === "-") {
      zoomBy(0.8);
    } else {
      handled = false;
    }
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  });

  // Zoom: the image is drawn larger inside a scrolling frame; boxes stay in image units.
  var zoom = 1, baseWidth = 0;
  function zoomBy(f) {
    if (!baseWidth) baseWidth = img.getBoundingClientRect().width;
    zoom = clamp(zoom * f, 1, 4);
    root.classList.toggle("zoomed", zoom > 1);
    img.style.width = zoom > 1 ? Math.round(baseWidth * zoom) + "px" : "";
    var label = document.getElementById("zoom-level");
    if (label) label.textContent = Math.round(zoom * 100) + "%";
  }
  var zin = document.getElementById("zoom-in"), zout = document.getElementById("zoom-out");
  if (zin) zin.addEventListener("click", function () { zoomBy(1.25); });
  if (zout) zout.addEventListener("click", function () { zoomBy(0.8); });
  tagSelect.addEventListener("change", function () {
    if (selected < 0) return;
    boxes[selected].tagId = tagSelect.value;
    render();
    save();
  });
  render();
  showPending();
})();
