import Foundation

/// How a detection iteration did on its held-out images. The raw detections and the
/// truth are kept, so precision, recall and AP at any probability threshold and any
/// overlap threshold are computed exactly (the portal's two sliders).
public struct DetectionReport: Codable, Sendable {
    public struct HeldOutImage: Codable, Sendable {
        /// Index in the training set.
        public var sample: Int
        public var truth: [LabeledBox]
        public var detections: [Detection]
        public init(sample: Int, truth: [LabeledBox], detections: [Detection]) {
            self.sample = sample; self.truth = truth; self.detections = detections
        }
    }

    public struct TagPerformance: Codable, Sendable, Equatable {
        public var tagID: String
        public var precision: Double
        public var recall: Double
        public var averagePrecision: Double
        /// Truth boxes of this tag on the held-out images.
        public var truths: Int
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var perTag: [TagPerformance]
        public var precision: Double
        public var recall: Double
        /// Mean over tags that have held-out boxes.
        public var meanAveragePrecision: Double
    }

    public var tagIDs: [String]
    public var images: [HeldOutImage]
    /// The caller's ids for training samples (image ids).
    public var sampleIDs: [String]?

    public init(tagIDs: [String], images: [HeldOutImage]) { self.tagIDs = tagIDs; self.images = images }

    /// For each detection of an image (in its stored order): whether it matches a truth box
    /// of its tag. Greedy by probability, as VOC: each truth box matches at most once, to
    /// the best-overlapping detection that reaches `overlap` first.
    public static func matches(_ image: HeldOutImage, overlap: Float) -> [Bool] {
        var used = [Bool](repeating: false, count: image.truth.count)
        var out = [Bool](repeating: false, count: image.detections.count)
        for i in image.detections.indices.sorted(by: { image.detections[$0].probability > image.detections[$1].probability }) {
            let d = image.detections[i]
            var best = -1
            var bestIoU = overlap
            for (j, t) in image.truth.enumerated() where !used[j] && t.tag == d.tag {
                let v = t.box.iou(d.box)
                if v >= bestIoU { bestIoU = v; best = j }
            }
            if best >= 0 { used[best] = true; out[i] = true }
        }
        return out
    }

    /// VOC all-point average precision over scored detections (true positive or not).
    static func averagePrecision(_ scored: [(Float, Bool)], truths: Int) -> Double {
        guard truths > 0 else { return 0 }
        let sorted = scored.sorted { $0.0 > $1.0 }
        var precisions: [Double] = [], recalls: [Double] = []
        var tp = 0
        for (k, s) in sorted.enumerated() {
            if s.1 { tp += 1 }
            precisions.append(Double(tp) / Double(k + 1))
            recalls.append(Double(tp) / Double(truths))
        }
        // Precision envelope, then the area under the step curve.
        for k in stride(from: precisions.count - 2, through: 0, by: -1) { precisions[k] = max(precisions[k], precisions[k + 1]) }
        var ap = 0.0, previous = 0.0
        for k in precisions.indices { ap += (recalls[k] - previous) * precisions[k]; previous = recalls[k] }
        return ap
    }

    public func summary(threshold: Float, overlap: Float) -> Summary {
        var scored = [[(Float, Bool)]](repeating: [], count: tagIDs.count)
        var truths = [Int](repeating: 0, count: tagIDs.count)
        for image in images {
            for t in image.truth where t.tag < tagIDs.count { truths[t.tag] += 1 }
            for (d, hit) in zip(image.detections, Self.matches(image, overlap: overlap)) where d.tag < tagIDs.count {
                scored[d.tag].append((d.probability, hit))
            }
        }
        var perTag: [TagPerformance] = []
        var tpAll = 0, predictedAll = 0, truthAll = 0
        for (t, id) in tagIDs.enumerated() {
            let above = scored[t].filter { $0.0 >= threshold }
            let tp = above.filter(\.1).count
            tpAll += tp; predictedAll += above.count; truthAll += truths[t]
            perTag.append(TagPerformance(tagID: id, precision: above.isEmpty ? 0 : Double(tp) / Double(above.count),
                                         recall: truths[t] == 0 ? 0 : Double(tp) / Double(truths[t]),
                                         averagePrecision: Self.averagePrecision(scored[t], truths: truths[t]), truths: truths[t]))
        }
        let measured = perTag.filter { $0.truths > 0 }
        return Summary(perTag: perTag, precision: predictedAll == 0 ? 0 : Double(tpAll) / Double(predictedAll),
                       recall: truthAll == 0 ? 0 : Double(tpAll) / Double(truthAll),
                       meanAveragePrecision: measured.isEmpty ? 0 : measured.map(\.averagePrecision).reduce(0, +) / Double(measured.count))
    }
}
