import Foundation

/// The detection head's training loss on raw outputs, with its gradient, divided by
/// the number of positive slots in the batch:
/// - positives (each truth box on the cell holding its centre, on the anchor whose
///   shape fits it best and is still free; larger boxes choose first):
///   2·(1 − GIoU), objectness BCE towards the (detached) IoU of the decoded box, and
///   softmax cross-entropy over the classes;
/// - negatives: objectness BCE towards 0, unless the decoded box overlaps a truth box
///   by IoU > 0.5 (then it is ignored).
public enum DetectionLoss {
    static let boxWeight: Float = 2
    static let ignoreOverlap: Float = 0.5

    /// Slots (cell·anchors + anchor) and the truth index each one learns.
    static func assign(_ boxes: [LabeledBox], cells n: Int = DetectionGrid.cells) -> [Int: Int] {
        let anchors = DetectionGrid.anchors
        var taken: [Int: Int] = [:]
        let order = boxes.indices.sorted { boxes[$0].box.area > boxes[$1].box.area }
        for i in order {
            let b = boxes[i].box
            let col = min(max(Int((b.left + b.width / 2) * Float(n)), 0), n - 1)
            let row = min(max(Int((b.top + b.height / 2) * Float(n)), 0), n - 1)
            let w = b.width * Float(n), h = b.height * Float(n)
            let ranked = anchors.indices.sorted { a, c in
                shapeIoU(w, h, anchors[a].w, anchors[a].h) > shapeIoU(w, h, anchors[c].w, anchors[c].h)
            }
            if let a = ranked.first(where: { taken[(row * n + col) * anchors.count + $0] == nil }) {
                taken[(row * n + col) * anchors.count + a] = i
            }
        }
        return taken
    }

    static func shapeIoU(_ w: Float, _ h: Float, _ aw: Float, _ ah: Float) -> Float {
        let inter = min(w, aw) * min(h, ah)
        return inter / (w * h + aw * ah - inter)
    }

    /// GIoU of a predicted box (centre, size) with a truth box, and its gradient with
    /// respect to the predicted centre and size.
    static func giou(cx: Float, cy: Float, w: Float, h: Float, truth g: NormalisedBox)
        -> (giou: Float, iou: Float, dcx: Float, dcy: Float, dw: Float, dh: Float) {
        let x1 = cx - w / 2, x2 = cx + w / 2, y1 = cy - h / 2, y2 = cy + h / 2
        let iwRaw = min(x2, g.right) - max(x1, g.left), ihRaw = min(y2, g.bottom) - max(y1, g.top)
        let iw = max(iwRaw, 0), ih = max(ihRaw, 0)
        let inter = iw * ih
        let area = w * h, union = max(area + g.area - inter, 1e-12)
        let cw = max(x2, g.right) - min(x1, g.left), chh = max(y2, g.bottom) - min(y1, g.top)
        let enclosing = max(cw * chh, 1e-12)
        let iou = inter / union
        let value = iou - 1 + union / enclosing
        // Reverse mode through G = I/U − 1 + U/C, U = A + A_g − I.
        let dU = -inter / (union * union) + 1 / enclosing
        let dI = 1 / union - dU
        let dA = dU
        let dC = -union / (enclosing * enclosing)
        let dIw = iwRaw > 0 && ihRaw > 0 ? dI * ih : 0, dIh = iwRaw > 0 && ihRaw > 0 ? dI * iw : 0
        let dCw = dC * chh, dCh = dC * cw
        // Corner derivatives.
        let dx2 = dIw * (x2 < g.right ? 1 : 0) + dCw * (x2 > g.right ? 1 : 0)
        let dx1 = -dIw * (x1 > g.left ? 1 : 0) - dCw * (x1 < g.left ? 1 : 0)
        let dy2 = dIh * (y2 < g.bottom ? 1 : 0) + dCh * (y2 > g.bottom ? 1 : 0)
        let dy1 = -dIh * (y1 > g.top ? 1 : 0) - dCh * (y1 < g.top ? 1 : 0)
        return (value, iou, dx1 + dx2, dy1 + dy2, (dx2 - dx1) / 2 + dA * h, (dy2 - dy1) / 2 + dA * w)
    }

    /// Loss and gradient for raw outputs [batch][n][n][channels] against each sample's boxes.
    public static func evaluate(_ raw: [Float], targets: [[LabeledBox]], classes c: Int) -> (loss: Float, gradient: [Float]) {
        let anchors = DetectionGrid.anchors.count, ch = DetectionGrid.channels(classes: c)
        precondition(!targets.isEmpty && raw.count % targets.count == 0, "outputs do not match the batch")
        let n = DetectionGrid.side(count: raw.count / targets.count, channels: ch)
        var grad = [Float](repeating: 0, count: raw.count)
        var loss: Double = 0
        var positives = 0
        var probs = [Float](repeating: 0, count: c)
        for (s, truths) in targets.enumerated() {
            let assigned = assign(truths, cells: n)
            positives += assigned.count
            for row in 0..<n {
                for col in 0..<n {
                    for a in 0..<anchors {
                        let o = s * n * n * ch + (row * n + col) * ch + a * (5 + c)
                        let tx = raw[o], ty = raw[o + 1], tw = raw[o + 2], th = raw[o + 3], obj = raw[o + 4]
                        let b = DetectionGrid.box(tx: tx, ty: ty, tw: tw, th: th, row: row, col: col, anchor: a, cells: n)
                        let pObj = DetectionGrid.sigmoid(obj)
                        if let t = assigned[(row * n + col) * anchors + a] {
                            let g = truths[t]
                            let r = giou(cx: b.left + b.width / 2, cy: b.top + b.height / 2, w: b.width, h: b.height, truth: g.box)
                            loss += Double(boxWeight * (1 - r.giou))
                            let sx = DetectionGrid.sigmoid(tx), sy = DetectionGrid.sigmoid(ty)
                            let clampW: Float = (tw > -10 && tw < 6) ? 1 : 0, clampH: Float = (th > -10 && th < 6) ? 1 : 0
                            grad[o] = -boxWeight * r.dcx * sx * (1 - sx) / Float(n)
                            grad[o + 1] = -boxWeight * r.dcy * sy * (1 - sy) / Float(n)
                            grad[o + 2] = -boxWeight * r.dw * b.width * clampW
                            grad[o + 3] = -boxWeight * r.dh * b.height * clampH
                            let target = r.iou
                            loss += Double(bce(obj, target))
                            grad[o + 4] = pObj - target
                            var m = -Float.infinity
                            for k in 0..<c { m = max(m, raw[o + 5 + k]) }
                            var sum: Float = 0
                            for k in 0..<c { probs[k] = exp(raw[o + 5 + k] - m); sum += probs[k] }
                            for k in 0..<c {
                                let p = probs[k] / sum
                                grad[o + 5 + k] = p - (k == g.tag ? 1 : 0)
                            }
                            loss += Double(-log(max(probs[g.tag] / sum, 1e-12)))
                        } else {
                            if truths.contains(where: { $0.box.iou(b) > ignoreOverlap }) { continue }
                            loss += Double(bce(obj, 0))
                            grad[o + 4] = pObj
                        }
                    }
                }
            }
        }
        let scale = 1 / Float(max(positives, 1))
        for i in grad.indices { grad[i] *= scale }
        return (Float(loss) * scale, grad)
    }

    /// Stable binary cross-entropy with logits.
    @inline(__always) static func bce(_ x: Float, _ y: Float) -> Float { log1p(exp(-abs(x))) + max(x, 0) - y * x }
}
