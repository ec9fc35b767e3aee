"""Custom Vision's compact detection output read the way its exported-model samples read
it (5 anchors on a 13 x 13 grid, σ(obj)·softmax(classes), per-class NMS), in NumPy, and
detections of two runtimes matched to each other."""
import numpy as np

from test_quickstart_detection import iou

SIZE, GRID = 416, 13
ANCHORS = np.array([[0.573, 0.677], [1.87, 2.06], [3.34, 5.47], [7.88, 3.53], [9.77, 9.17]])  # cell units
MIN_SCORE, NMS_IOU, MAX_DETECTIONS = 0.01, 0.45, 64
# Exactness: every detection of at least COMPARED has a twin of the same tag, IoU SAME_BOX, score within TOLERANCE.
COMPARED, TOLERANCE, SAME_BOX = 0.05, 1e-4, 0.99


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def overlaps(box, others):
    """IoU of one [left, top, width, height] box with each row of others."""
    iw = np.minimum(box[0] + box[2], others[:, 0] + others[:, 2]) - np.maximum(box[0], others[:, 0])
    ih = np.minimum(box[1] + box[3], others[:, 1] + others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    return inter / (box[2] * box[3] + others[:, 2] * others[:, 3] - inter)


def decode(output, labels):
    """[(tag, score, [left, top, width, height])] from one raw output [1, 5·(5+C), 13, 13]:
    channel a·(5+C)+k holds σ(tx), σ(ty) (the model applies the sigmoid), tw, th, the
    objectness logit, then C class logits for anchor a. Scores above MIN_SCORE, greedy per-class NMS, then the best MAX_DETECTIONS."""
    c = len(labels)
    out = np.asarray(output, np.float64)[0].reshape(len(ANCHORS), 5 + c, GRID, GRID)
    rows, cols = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    x = (out[:, 0] + cols) / GRID
    y = (out[:, 1] + rows) / GRID
    w = np.exp(out[:, 2]) * ANCHORS[:, 0, None, None] / GRID
    h = np.exp(out[:, 3]) * ANCHORS[:, 1, None, None] / GRID
    logits = out[:, 5:]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores = sigmoid(out[:, 4])[:, None] * e / e.sum(axis=1, keepdims=True)  # [anchor, class, row, col]
    boxes = np.stack([x - w / 2, y - h / 2, w, h], axis=-1).reshape(-1, 4)  # [anchor·row·col, 4]
    detections = []
    for k, tag in enumerate(labels):
        s = scores[:, k].reshape(-1)
        kept = []
        for i in np.argsort(-s, kind="stable"):
            if s[i] <= MIN_SCORE:
                break
            if not kept or overlaps(boxes[i], boxes[kept]).max() <= NMS_IOU:
                kept.append(i)
        detections += [(tag, float(s[i]), boxes[i].tolist()) for i in kept]
    detections.sort(key=lambda d: -d[1])
    return detections[:MAX_DETECTIONS]


def clipped(box):
    """A box cut to the image, since whether the server clips is not part of the contract."""
    left, top = max(box[0], 0.0), max(box[1], 0.0)
    right, bottom = min(box[0] + box[2], 1.0), min(box[1] + box[3], 1.0)
    return [left, top, max(right - left, 0.0), max(bottom - top, 0.0)]


def matches(a, b, tolerance=TOLERANCE, same_box=SAME_BOX):
    """a, b: (tag, score, box). Same tag, the same clipped box, the same score."""
    return a[0] == b[0] and abs(a[1] - b[1]) <= tolerance and iou(clipped(a[2]), clipped(b[2])) >= same_box


def compare(server, exported, where, tolerance=TOLERANCE, same_box=SAME_BOX, compared=COMPARED):
    """Every detection of at least `compared` on either side has its twin among all of the
    other side's (down to MIN_SCORE, so a score near the line does not decide).
    Returns the largest score difference among the twins."""
    worst = 0.0
    for side, mine, theirs in [("server", server, exported), ("onnx", exported, server)]:
        for d in mine:
            if d[1] < compared:
                continue
            twins = [o for o in theirs if matches(d, o, tolerance, same_box)]
            assert twins, (where, f"{side} detection without a twin", d,
                           sorted(theirs, key=lambda o: -iou(clipped(d[2]), clipped(o[2])))[:3])
            worst = max(worst, min(abs(d[1] - o[1]) for o in twins))
    return worst


def closest_twins(served, exported, minimum):
    """For each server detection of at least `minimum`: (it, the exported detection of its
    tag with the largest IoU or None, that IoU)."""
    out = []
    for d in served:
        if d[1] >= minimum:
            same = [o for o in exported if o[0] == d[0]]
            best = max(same, key=lambda o: iou(clipped(d[2]), clipped(o[2])), default=None)
            out.append((d, best, iou(clipped(d[2]), clipped(best[2])) if best else 0.0))
    return out
