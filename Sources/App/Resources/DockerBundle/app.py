"""Prediction service for a model exported from Sightline.

POST /image  raw image bytes, or multipart/form-data with the file in field `imageData`
POST /url    JSON {"url": "https://..."}
GET  /       health check

Both answer with the Custom Vision Prediction API's ImagePrediction JSON. The image is
prepared exactly as the Sightline server prepares it (preprocess.py), so the probabilities
are the server's. An object detector's predictions carry boundingBox too: its grid output
is decoded and suppressed here as the server does it (see manifest.json's "detection").
"""
import datetime
import email.parser
import email.policy
import json
import os
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import onnxruntime as ort

import preprocess

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BYTES = 6 * 1024 * 1024

with open(os.path.join(HERE, "manifest.json"), encoding="utf-8") as f:
    MANIFEST = json.load(f)
with open(os.path.join(HERE, "labels.txt"), encoding="utf-8") as f:
    LABELS = [line.rstrip("\n") for line in f if line.rstrip("\n")]
TAGS = MANIFEST["tags"]
assert [t["name"] for t in TAGS] == LABELS, "labels.txt and manifest.json disagree"

_options = ort.SessionOptions()
_options.intra_op_num_threads = int(os.environ.get("THREADS", "1"))
SESSION = ort.InferenceSession(os.path.join(HERE, "model.onnx"), _options, providers=["CPUExecutionProvider"])
SIZE = MANIFEST["inputSize"]
DETECTION = MANIFEST.get("detection")  # present for object detectors
FRAMING = MANIFEST.get("framing", "whole")  # "centre-crop" for classifiers trained before whole-image framing
assert FRAMING in ("whole", "centre-crop"), "manifest.json: unknown framing %r" % FRAMING


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def detections(output):
    """[(tag index, score, [left, top, width, height])] from the detector's raw grid
    output [1, A·(5+C), n, n]: for anchor a, channels a·(5+C)+k hold σ(tx), σ(ty), tw, th,
    the objectness logit and C class logits. Scores σ(obj)·softmax(classes) above the
    minimum, greedy per-tag suppression (highest first), then the best few."""
    anchors = np.asarray(DETECTION["anchors"], np.float32)
    c = len(TAGS)
    n = output.shape[-1]
    out = output[0].reshape(len(anchors), 5 + c, n, n).astype(np.float32)
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x, y = (out[:, 0] + cols) / n, (out[:, 1] + rows) / n
    # tw, th are clamped before exp, as the server does.
    w = np.exp(np.clip(out[:, 2], -10, 6)) * anchors[:, 0, None, None] / n
    h = np.exp(np.clip(out[:, 3], -10, 6)) * anchors[:, 1, None, None] / n
    objectness = sigmoid(out[:, 4])
    logits = out[:, 5:]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores = objectness[:, None] * e / e.sum(axis=1, keepdims=True)  # [A, C, n, n]
    boxes = np.stack([x - w / 2, y - h / 2, w, h], axis=-1)  # [A, n, n, 4]
    minimum = DETECTION["minimumProbability"]
    candidates = [(int(k), float(scores[a, k, r, q]), boxes[a, r, q])
                  for a, k, r, q in zip(*np.nonzero((scores > minimum) & (objectness[:, None] > minimum)))]
    candidates.sort(key=lambda d: -d[1])
    kept, by_tag = [], {}
    for d in candidates:
        if any(overlap(d[2], b) > DETECTION["overlap"] for b in by_tag.get(d[0], [])):
            continue
        by_tag.setdefault(d[0], []).append(d[2])
        kept.append(d)
        if len(kept) == DETECTION["maxDetections"]:
            break
    return kept


def overlap(a, b):
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-12)


def clipped(box):
    """Cut to the image, as Custom Vision reports boxes."""
    left, top = min(max(float(box[0]), 0.0), 1.0), min(max(float(box[1]), 0.0), 1.0)
    right, bottom = min(max(float(box[0] + box[2]), 0.0), 1.0), min(max(float(box[1] + box[3]), 0.0), 1.0)
    return {"left": left, "top": top, "width": max(right - left, 0.0), "height": max(bottom - top, 0.0)}


def predictions(data):
    if DETECTION:
        raw = SESSION.run([DETECTION["output"]], {"data": preprocess.whole_input(data, SIZE)})[0]
        return [{"probability": p, "tagId": TAGS[k]["id"], "tagName": TAGS[k]["name"], "boundingBox": clipped(box),
                 "tagType": TAGS[k]["type"]} for k, p, box in detections(raw)]
    probabilities = SESSION.run(["probabilities"], {"data": preprocess.network_input(data, SIZE, FRAMING)})[0][0]
    order = np.argsort(-probabilities, kind="stable")
    return [{"probability": float(probabilities[i]), "tagId": TAGS[i]["id"], "tagName": TAGS[i]["name"], "tagType": TAGS[i]["type"]}
            for i in order]


def predict(data):
    found = predictions(data)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": str(uuid.uuid4()),
        "project": MANIFEST["projectId"],
        "iteration": MANIFEST["iterationId"],
        "created": now,
        "predictions": found,
    }


def image_from_multipart(content_type, body):
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "imageData":
            return part.get_payload(decode=True)
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "SightlineExport/1"

    def answer(self, status, payload):
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def fail(self, status, code, message):
        self.answer(status, {"code": code, "message": message})

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BYTES:
            raise ValueError("the request is larger than %d bytes" % MAX_BYTES)
        return self.rfile.read(length)

    def do_GET(self):
        if self.path.split("?")[0] == "/":
            self.answer(200, {"status": "ok", "iteration": MANIFEST["iterationId"], "tags": LABELS})
        else:
            self.fail(404, "NotFound", "Use POST /image or POST /url.")

    def do_POST(self):
        route = self.path.split("?")[0].rstrip("/")
        try:
            body = self.body()
        except ValueError as e:
            return self.fail(413, "BadRequestImageSizeBytes", str(e))
        if route == "/image":
            content_type = self.headers.get("Content-Type", "")
            data = image_from_multipart(content_type, body) if content_type.startswith("multipart/") else body
            if not data:
                return self.fail(400, "BadRequestImageStream", "Send the image as the body or as multipart field imageData.")
        elif route == "/url":
            try:
                url = json.loads(body or b"{}")
                url = url.get("url") or url.get("Url")
            except (ValueError, AttributeError):
                url = None
            if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
                return self.fail(400, "BadRequestImageUrl", "Send JSON {\"url\": \"http(s)://...\"}.")
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    data = r.read(MAX_BYTES + 1)
            except Exception as e:  # noqa: BLE001 - any fetch failure is the caller's URL
                return self.fail(400, "BadRequestImageUrl", "Cannot fetch the image: %s" % e)
            if len(data) > MAX_BYTES:
                return self.fail(400, "BadRequestImageSizeBytes", "The image is larger than %d bytes." % MAX_BYTES)
        else:
            return self.fail(404, "NotFound", "Use POST /image or POST /url.")
        try:
            result = predict(data)
        except preprocess.ImageError as e:
            return self.fail(400, "BadRequestImageFormat", str(e))
        self.answer(200, result)


def main():
    host = os.environ.get("HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "80"))
    server = ThreadingHTTPServer((host, port), Handler)
    print("listening on http://%s:%d" % (host, server.server_address[1]), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
