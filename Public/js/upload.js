// Drag-and-drop upload: one request per file, so each file gets its own progress bar
// and the server's status for it. Tags ticked above the drop zone apply to the batch.
(function () {
  "use strict";
  var root = document.getElementById("uploader");
  if (!root) return;
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("file-input");
  var list = document.getElementById("upload-list");
  var summary = document.getElementById("upload-summary");
  var url = root.getAttribute("data-upload");
  var csrf = root.getAttribute("data-csrf");
  var queue = [], running = 0, PARALLEL = 3, done = 0, total = 0;

  function chosenTags() {
    var boxes = root.querySelectorAll("input.batch-tag:checked"), ids = [];
    for (var i = 0; i < boxes.length; i++) ids.push(boxes[i].value);
    return ids.join(",");
  }

  function row(file) {
    var li = document.createElement("li");
    li.className = "upload";
    li.setAttribute("data-name", file.name);
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    var status = document.createElement("span");
    status.className = "status";
    status.textContent = "Waiting";
    li.appendChild(name); li.appendChild(bar); li.appendChild(status);
    list.appendChild(li);
    return { li: li, bar: bar, status: status };
  }

  // The batch's outcome in words: "18 added, 2 duplicates skipped, 1 not an image".
  var tally = { added: 0, duplicate: 0, notImage: 0, failed: 0 };
  function summarise() {
    var parts = [];
    if (tally.added) parts.push(tally.added + " added");
    if (tally.duplicate) parts.push(tally.duplicate + " duplicate" + (tally.duplicate === 1 ? "" : "s") + " skipped");
    if (tally.notImage) parts.push(tally.notImage + " not an image");
    if (tally.failed) parts.push(tally.failed + " failed (see below)");
    var left = total - done;
    summary.textContent = parts.join(", ") + (left > 0 ? " · " + left + " to go" : "");
  }

  // The sidebar's counts follow the uploads, no reload needed.
  function bump(filter, delta) {
    var a = document.querySelector('#filters a[data-filter="' + filter + '"]');
    if (!a) return;
    a.textContent = a.textContent.replace(/\((\d+)\)$/, function (m, n) { return "(" + (Number(n) + delta) + ")"; });
  }

  function finish(item, code, text, ok) {
    item.ui.status.textContent = text;
    item.ui.li.setAttribute("data-status", code);
    item.ui.li.className = "upload " + (ok ? "ok" : "failed");
    if (code === "OK") {
      tally.added++;
      bump("all", 1);
      if (item.tags) {
        bump("tagged", 1);
        item.tags.split(",").forEach(function (t) { bump(t, 1); });
      } else {
        bump("untagged", 1);
      }
    } else if (code === "OKDuplicate") tally.duplicate++;
    else if (code === "ErrorImageFormat") tally.notImage++;
    else tally.failed++;
    running--; done++;
    summarise();
    if (done === total) root.setAttribute("data-finished", String(total));
    next();
  }

  function send(item) {
    running++;
    var form = new FormData();
    form.append("tagIds", item.tags);
    form.append("imageData", item.file, item.file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    item.ui.status.textContent = "Uploading";
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) item.ui.bar.value = Math.round(100 * e.loaded / e.total);
    };
    xhr.onload = function () {
      item.ui.bar.value = 100;
      var code = "HTTP " + xhr.status, ok = false;
      var text = xhr.status === 413 ? "File too large" : "Not added (the server answered " + xhr.status + ")";
      try {
        var body = JSON.parse(xhr.responseText);
        if (body.images && body.images.length) {
          code = body.images[0].status;
          text = body.images[0].message || code;
          ok = code === "OK" || code === "OKDuplicate";
          if (code === "OK") addThumb(body.images[0]);
        } else if (body.message) {
          code = body.code;
          text = body.message;
        }
      } catch (e) { /* keep the HTTP status */ }
      finish(item, code, text, ok);
    };
    xhr.onerror = function () { finish(item, "network", "The server could not be reached", false); };
    xhr.send(form);
  }

  // New images appear at the front of the gallery without a reload.
  function addThumb(image) {
    var gallery = document.getElementById("gallery");
    if (!gallery || !image.thumbnailUri) return;
    var cell = document.createElement("div");
    cell.className = "cell";
    cell.setAttribute("data-image", image.id);
    var a = document.createElement("a");
    a.className = "thumb";
    a.href = url + "/" + image.id;
    a.setAttribute("data-image", image.id);
    var img = document.createElement("img");
    img.src = image.thumbnailUri;
    img.alt = "Newly uploaded image";
    a.appendChild(img);
    cell.appendChild(a);
    gallery.insertBefore(cell, gallery.firstChild);
  }

  function next() {
    while (running < PARALLEL && queue.length) send(queue.shift());
  }

  function add(files) {
    var tags = chosenTags();
    root.removeAttribute("data-finished");
    for (var i = 0; i < files.length; i++) {
      queue.push({ file: files[i], tags: tags, ui: row(files[i]) });
      total++;
    }
    next();
  }

  input.addEventListener("change", function () { add(input.files); input.value = ""; });
  zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    zone.classList.remove("over");
    add(e.dataTransfer.files);
  });
})();
