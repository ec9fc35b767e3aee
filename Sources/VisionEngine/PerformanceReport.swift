import Foundation

/// One held-out prediction for one tag: its probability, whether the image has the tag,
/// and the cross-validation fold it was held out in.
public struct ScoredExample: Codable, Sendable, Equatable {
    public var score: Float
    public var positive: Bool
    public var fold: Int
    /// Which training sample was scored (its index in the training set).
    public var sample: Int?

    public init(score: Float, positive: Bool, fold: Int, sample: Int? = nil) {
        self.score = score; self.positive = positive; self.fold = fold; self.sample = sample
    }
}

/// Precision, recall and average precision as Custom Vision reports them, from the
/// cross-validated predictions, which are kept so any threshold can be shown exactly.
public struct PerformanceReport: Codable, Sendable {
    public struct TagPerformance: Codable, Sendable, Equatable {
        public var tagID: String
        public var precision: Double
        public var precisionStdDeviation: Double
        public var recall: Double
        public var recallStdDeviation: Double
        public var averagePrecision: Double
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var perTag: [TagPerformance]
        public var precision: Double
        public var precisionStdDeviation: Double
        public var recall: Double
        public var recallStdDeviation: Double
        public var averagePrecision: Double
    }

    public var tagIDs: [String]
    public var scored: [[ScoredExample]]
    public var folds: Int
    /// The caller's ids for the training samples (image ids), so held-out predictions
    /// can be shown per image.
    public var sampleIDs: [String]?
    /// How the shipped model was made when that is not the cross-validated probe alone
    /// (Advanced training), in words, and its fine-tuning's run.
    public var recipe: String?
    public var fineTune: FineTuneReport?

    public init(tagIDs: [String], scored: [[ScoredExample]], folds: Int) {
        self.tagIDs = tagIDs; self.scored = scored; self.folds = folds
    }

    /// Counts at a threshold: a tag is predicted when its probability is at least it.
    static func counts(_ xs: [ScoredExample], threshold: Float) -> (tp: Int, fp: Int, fn: Int) {
        var tp = 0, fp = 0, fn = 0
        for x in xs {
            let predicted = x.score >= threshold
            if predicted && x.positive { tp += 1 } else if predicted { fp += 1 } else if x.positive { fn += 1 }
        }
        return (tp, fp, fn)
    }

    static func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }

    static func std(_ v: [Double]) -> Double {
        guard v.count > 1 else { return 0 }
        let m = v.reduce(0, +) / Double(v.count)
        return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot()
    }

    /// Area under the interpolated precision-recall curve.
    public static func averagePrecision(_ xs: [ScoredExample]) -> Double {
        let positives = xs.filter(\.positive).count
        guard positives > 0 else { return 0 }
        let sorted = xs.sorted { $0.score > $1.score }
        var points: [(recall: Double, precision: Double)] = []
        var tp = 0, seen = 0, i = 0
        while i < sorted.count {
            // Ties share one point on the curve.
            var j = i
            while j < sorted.count && sorted[j].score == sorted[i].score {
                if sorted[j].positive { tp += 1 }
                seen += 1
                j += 1
            }
            points.append((Double(tp) / Double(positives), Double(tp) / Double(seen)))
            i = j
        }
        var ap = 0.0, previousRecall = 0.0
        for (k, p) in points.enumerated() {
            let interpolated = points[k...].map(\.precision).max()!
            ap += (p.recall - previousRecall) * interpolated
            previousRecall = p.recall
        }
        return ap
    }

    /// Everything at one probability threshold (Custom Vision's default is 0.5).
    public func summary(threshold: Float = 0.5) -> Summary {
        var perTag: [TagPerformance] = []
        var allTP = 0, allFP = 0, allFN = 0
        var foldPrecision = [[Double]](repeating: [], count: folds), foldRecall = [[Double]](repeating: [], count: folds)
        for (t, xs) in scored.enumerated() {
            let c = Self.counts(xs, threshold: threshold)
            allTP += c.tp; allFP += c.fp; allFN += c.fn
            var ps: [Double] = [], rs: [Double] = []
            for f in 0..<folds {
                let part = xs.filter { $0.fold == f }
                guard !part.isEmpty else { continue }
                let fc = Self.counts(part, threshold: threshold)
                ps.append(Self.ratio(fc.tp, fc.tp + fc.fp)); rs.append(Self.ratio(fc.tp, fc.tp + fc.fn))
            }
            perTag.append(TagPerformance(tagID: tagIDs[t], precision: Self.ratio(c.tp, c.tp + c.fp), precisionStdDeviation: Self.std(ps),
                                         recall: Self.ratio(c.tp, c.tp + c.fn), recallStdDeviation: Self.std(rs),
                                         averagePrecision: Self.averagePrecision(xs)))
        }
        for f in 0..<folds {
            var tp = 0, fp = 0, fn = 0
            for xs in scored {
                let fc = Self.counts(xs.filter { $0.fold == f }, threshold: threshold)
                tp += fc.tp; fp += fc.fp; fn += fc.fn
            }
            if tp + fp + fn > 0 { foldPrecision[f].append(Self.ratio(tp, tp + fp)); foldRecall[f].append(Self.ratio(tp, tp + fn)) }
        }
        let mAP = perTag.isEmpty ? 0 : perTag.map(\.averagePrecision).reduce(0, +) / Double(perTag.count)
        return Summary(perTag: perTag, precision: Self.ratio(allTP, allTP + allFP),
                       precisionStdDeviation: Self.std(foldPrecision.flatMap { $0 }),
                       recall: Self.ratio(allTP, allTP + allFN), recallStdDeviation: Self.std(foldRecall.flatMap { $0 }),
                       averagePrecision: mAP)
    }

    /// The PR curve of one tag: (threshold, precision, recall) at every distinct score.
    /// Held-out probabilities per sample: sample index → [(tag index, probability)].
    public func heldOut() -> [Int: [(tag: Int, probability: Float)]] {
        var out: [Int: [(tag: Int, probability: Float)]] = [:]
        for (t, xs) in scored.enumerated() { for x in xs { if let s = x.sample { out[s, default: []].append((t, x.score)) } } }
        return out
    }

    public func curve(tag t: Int) -> [(threshold: Float, precision: Double, recall: Double)] {
        let thresholds = Set(scored[t].map(\.score)).sorted(by: >)
        return thresholds.map { th in
            let c = Self.counts(scored[t], threshold: th)
            return (th, Self.ratio(c.tp, c.tp + c.fp), Self.ratio(c.tp, c.tp + c.fn))
        }
    }
}
