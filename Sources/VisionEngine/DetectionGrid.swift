import Foundation

/// A box in normalised image coordinates (0–1): left, top, width, height, as Custom
/// Vision's regions and bounding boxes are.
public struct NormalisedBox: Codable, Sendable, Equatable, Hashable {
    public var left: Float, top: Float, width: Float, height: Float

    public init(left: Float, top: Float, width: Float, height: Float) {
        self.left = left; self.top = top; self.width = width; self.height = height
    }

    public var right: Float { left + width }
    public var bottom: Float { top + height }
    public var area: Float { max(width, 0) * max(height, 0) }

    public func iou(_ o: NormalisedBox) -> Float {
        let iw = min(right, o.right) - max(left, o.left), ih = min(bottom, o.bottom) - max(top, o.top)
        guard iw > 0, ih > 0 else { return 0 }
        let inter = iw * ih
        return inter / max(area + o.area - inter, 1e-12)
    }

    /// Clipped to the image; nil when nothing is left.
    public var clipped: NormalisedBox? {
        let l = max(0, left), t = max(0, top), r = min(1, right), b = min(1, bottom)
        guard r > l, b > t else { return nil }
        return NormalisedBox(left: l, top: t, width: r - l, height: b - t)
    }
}

/// A box with the index of its tag.
public struct LabeledBox: Codable, Sendable, Equatable {
    public var tag: Int
    public var box: NormalisedBox
    public init(tag: Int, box: NormalisedBox) { self.tag = tag; self.box = box }
}

/// A detection: tag index, probability and box.
public struct Detection: Codable, Sendable, Equatable {
    public var tag: Int
    public var probability: Float
    public var box: NormalisedBox
    public init(tag: Int, probability: Float, box: NormalisedBox) { self.tag = tag; self.probability = probability; self.box = box }
}

/// Custom Vision's compact detection format: the whole image resized to 416×416, a
/// 13×13 grid, 5 anchors (in cell units), and per cell and anchor the channels
/// `a·(5+C) + k` with k = tx, ty, tw, th, objectness, then C class logits. A larger input
/// keeps the format with one cell per 32 pixels (608 → 19×19); the anchors stay in cells.
public enum DetectionGrid {
    public static let inputSize = 416
    public static let cells = 13
    public static let stride = 32

    public static func cells(inputSize: Int) -> Int { inputSize / stride }

    /// Cells per side of a square grid of `count` values with `channels` per position.
    static func side(count: Int, channels: Int) -> Int {
        let n = Int(Double(count / max(channels, 1)).squareRoot().rounded())
        precondition(n * n * channels == count, "head output has the wrong size")
        return n
    }
    public static let anchors: [(w: Float, h: Float)] = [(0.573, 0.677), (1.87, 2.06), (3.34, 5.47), (7.88, 3.53), (9.77, 9.17)]
    /// Decoding and NMS, as Custom Vision's exported-model samples do it.
    public static let minimumProbability: Float = 0.01
    public static let nmsOverlap: Float = 0.45
    public static let maxDetections = 64

    public static func channels(classes: Int) -> Int { anchors.count * (5 + classes) }

    /// 1 on each anchor's tx and ty channels, 0 elsewhere: exported graphs apply σ to the
    /// centre offsets only, as raw + mask·(σ(raw) − raw).
    static func offsetMask(classes: Int) -> [Float] {
        var mask = [Float](repeating: 0, count: channels(classes: classes))
        for a in anchors.indices { mask[a * (5 + classes)] = 1; mask[a * (5 + classes) + 1] = 1 }
        return mask
    }

    @inline(__always) static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    /// tw and th are clamped before exp so that an untrained head cannot overflow.
    @inline(__always) static func expClamped(_ x: Float) -> Float { exp(min(max(x, -10), 6)) }

    /// The box that raw outputs (tx, ty, tw, th) at cell (row, col) on anchor `a` decode to.
    @inline(__always) static func box(tx: Float, ty: Float, tw: Float, th: Float, row: Int, col: Int, anchor a: Int, cells: Int) -> NormalisedBox {
        let n = Float(cells)
        let cx = (sigmoid(tx) + Float(col)) / n, cy = (sigmoid(ty) + Float(row)) / n
        let w = expClamped(tw) * anchors[a].w / n, h = expClamped(th) * anchors[a].h / n
        return NormalisedBox(left: cx - w / 2, top: cy - h / 2, width: w, height: h)
    }

    /// Detections from one image's raw head output ([n][n][channels], NHWC; 13×13 at 416):
    /// scores σ(obj)·softmax(classes) above the minimum, per-class NMS, the best 64.
    public static func decode(_ raw: [Float], classes c: Int) -> [Detection] {
        let ch = channels(classes: c)
        let cells = side(count: raw.count, channels: ch)
        var candidates: [Detection] = []
        var probs = [Float](repeating: 0, count: c)
        for row in 0..<cells {
            for col in 0..<cells {
                let base = (row * cells + col) * ch
                for a in 0..<anchors.count {
                    let o = base + a * (5 + c)
                    let objectness = sigmoid(raw[o + 4])
                    guard objectness > minimumProbability else { continue }
                    var m = -Float.infinity
                    for k in 0..<c { m = max(m, raw[o + 5 + k]) }
                    var sum: Float = 0
                    for k in 0..<c { probs[k] = exp(raw[o + 5 + k] - m); sum += probs[k] }
                    let b = box(tx: raw[o], ty: raw[o + 1], tw: raw[o + 2], th: raw[o + 3], row: row, col: col, anchor: a, cells: cells)
                    for k in 0..<c {
                        let p = objectness * probs[k] / sum
                        if p > minimumProbability { candidates.append(Detection(tag: k, probability: p, box: b)) }
                    }
                }
            }
        }
        return suppress(candidates)
    }

    /// Greedy per-class non-maximum suppression, highest probability first, then the
    /// best `maxDetections` overall.
    public static func suppress(_ detections: [Detection]) -> [Detection] {
        let sorted = detections.sorted { $0.probability > $1.probability }
        var kept: [Detection] = []
        var byTag: [Int: [NormalisedBox]] = [:]
        for d in sorted {
            if byTag[d.tag, default: []].contains(where: { $0.iou(d.box) > nmsOverlap }) { continue }
            byTag[d.tag, default: []].append(d.box)
            kept.append(d)
            if kept.count == maxDetections { break }
        }
        return kept
    }
}
