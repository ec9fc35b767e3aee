"""How the detection benchmark scores answers: VOC all-point AP per tag at an IoU
threshold, mAP over the tags, and top-1 accuracy of the classification reference."""
import statistics

IOU_THRESHOLD = 0.5


def iou(a, b):
    """Intersection over union of two [left, top, width, height] boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def average_precision(detections, truths):
    """VOC all-point AP of one tag. detections: [(probability, image index, box)];
    truths: {image index: [box, ...]}. Highest probability first, each detection takes the
    truth box it overlaps most; a true positive when that overlap is ≥ IOU_THRESHOLD and
    the box is not taken yet, else a false positive."""
    positives = sum(len(v) for v in truths.values())
    if positives == 0:
        return float("nan")
    taken = {i: [False] * len(v) for i, v in truths.items()}
    tp = fp = 0
    recall, precision = [], []
    for probability, image, box in sorted(detections, key=lambda d: -d[0]):
        best, best_j = 0.0, -1
        for j, truth in enumerate(truths.get(image, [])):
            o = iou(box, truth)
            if o > best:
                best, best_j = o, j
        if best >= IOU_THRESHOLD and not taken[image][best_j]:
            taken[image][best_j] = True
            tp += 1
        else:
            fp += 1
        recall.append(tp / positives)
        precision.append(tp / (tp + fp))
    # All-point interpolation: precision made monotone from the right, summed over recall steps.
    r = [0.0] + recall + [1.0]
    p = [0.0] + precision + [0.0]
    for i in range(len(p) - 2, -1, -1):
        p[i] = max(p[i], p[i + 1])
    return sum((r[i] - r[i - 1]) * p[i] for i in range(1, len(r)) if r[i] != r[i - 1])


def detection_map(images, answers, tag_ids, tags):
    """(mean AP over `tags`, {tag: AP}) of the detect answers for the images."""
    names = {v: k for k, v in tag_ids.items()}
    per_tag = {}
    for tag in tags:
        truths, detections = {}, []
        for i, ((e, _), answer) in enumerate(zip(images, answers)):
            truths[i] = [b for t, b in zip(e["tags"], e["boxes"]) if t == tag]
            for p in answer.get("predictions", []):
                box = p.get("boundingBox")
                if box and names.get(p["tagId"], p.get("tagName")) == tag:
                    detections.append((p["probability"], i, [box["left"], box["top"], box["width"], box["height"]]))
        per_tag[tag] = average_precision(detections, truths)
    return statistics.fmean(per_tag.values()), per_tag


def classification_accuracy(images, answers, tag_ids):
    names = {v: k for k, v in tag_ids.items()}
    right = 0
    for (e, _), answer in zip(images, answers):
        best = max(answer["predictions"], key=lambda p: p["probability"])
        right += names.get(best["tagId"], best.get("tagName")) == e["tags"][0]
    return right / len(images)
