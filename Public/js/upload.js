// Drag-and-drop upload: one request per file, so each file gets its own progress bar
// and the server's status for it. Tags ticked above the drop zone apply to the batch.
(function () {
  "use strict";
  var root = document.getElementById("uploader");
  if (!root) return;
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("file-input");
  var list = document.getElementById("upload-list");
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
    status.textContent = "waiting";
    li.appendChild(name); li.appendChild(bar); li.appendChild(status);
    list.appendChild(li);
    return { li: li, bar: bar, status: status };
  }

  function finish(item, text, ok) {
    item.ui.status.textContent = text;
    item.ui.li.setAttribute("data-status", text);
    item.ui.li.className = "upload " + (ok ? "ok" : "failed");
    running--; done++;
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
    item.ui.status.textContent = "uploading";
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) item.ui.bar.value = Math.round(100 * e.loaded / e.total);
    };
    xhr.onload = function () {
      item.ui.bar.value = 100;
      var text = "HTTP " + xhr.status, ok = false;
      try {
        var body = JSON.parse(xhr.responseText);
        if (body.images && body.images.length) {
          text = body.images[0].status;
          ok = text === "OK" || text === "OKDuplicate";
          if (text === "OK") addThumb(body.images[0]);
        } else if (body.message) {
          text = body.code + ": " + body.message;
        }
      } catch (e) { /* keep the HTTP status */ }
      finish(item, text, ok);
    };
    xhr.onerror = function () { finish(item, "network error", false); };
    xhr.send(form);
  }

  // New images appear at the front of the gallery without a reload.
  function addThumb(image) {
    var gallery = document.getElementById("gallery");
    if (!gallery || !image.thumbnailUri) return;
    var a = document.createElement("a");
    a.className = "thumb";
    a.href = url + "/" + image.id;
    a.setAttribute("data-image", image.id);
    var img = document.createElement("img");
    img.src = image.thumbnailUri;
    img.alt = "image";
    a.appendChild(img);
    gallery.insertBefore(a, gallery.firstChild);
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
