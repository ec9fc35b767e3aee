import COpenBLAS
import Foundation

/// One training image: its features under each augmentation view (view 0, the
/// evaluation view, first) and the indices of its tags.
public struct TrainingSample: Sendable {
    public var views: [[Float]]
    public var tags: [Int]
    public init(views: [[Float]], tags: [Int]) { self.views = views; self.tags = tags }
}

public struct TrainingOptions: Sendable {
    /// L2 penalty on the weights (features are standardised).
    public var l2: Float = 0.3
    public var maxIterations = 300
    public var seed: UInt64 = 7
    /// Cross-validation folds; nil chooses from the data (2…5).
    public var folds: Int?
    /// How the samples' views frame their images: the head records it, and prediction
    /// frames images the same way.
    public var framing: Framing = .whole
    public init() {}
}

/// Trains heads: class-balanced, L2-regularised, by L-BFGS to convergence. The Negative
/// tag is an ordinary output that images tagged only Negative teach, so for those images
/// every other tag is a negative example ("none of the tags").
public enum Trainer {
    public static func validate(_ samples: [TrainingSample], tags: Int, kind: ClassifierHead.Kind, tagNames: [String]) throws {
        guard !samples.isEmpty else { throw HeadError.noImages }
        for (i, s) in samples.enumerated() {
            guard let first = s.views.first, first.count == EfficientNetLite.featureSize,
                  s.views.allSatisfy({ $0.count == first.count }) else {
                throw HeadError.invalidFeatures("image \(i) has features of the wrong size")
            }
            guard s.views.allSatisfy({ $0.allSatisfy(\.isFinite) }) else { throw HeadError.invalidFeatures("image \(i) has NaN or infinite features") }
            guard s.tags.allSatisfy({ (0..<tags).contains($0) }) else { throw HeadError.invalidFeatures("image \(i) has an unknown tag") }
        }
        var counts = [Int](repeating: 0, count: tags)
        for s in samples { for t in Set(s.tags) { counts[t] += 1 } }
        if let empty = counts.firstIndex(of: 0) { throw HeadError.emptyTag(tagNames[empty]) }
        if kind == .multiclass && tags < 2 { throw HeadError.tooFewTags(tags) }
    }

    /// Fits one head on all views of `samples`.
    /// `warmStart`: a head on the same features whose tag `rows[t]` is this fit's tag t;
    /// re-expressed in this fit's standardisation it is where L-BFGS starts. The objective
    /// is strictly convex, so the optimum is the same; only the way there is shorter.
    public static func fit(_ samples: [TrainingSample], tagIDs: [String], kind: ClassifierHead.Kind, backbone: String,
                           inputSize: Int, options: TrainingOptions = TrainingOptions(),
                           warmStart: (head: ClassifierHead, rows: [Int])? = nil) throws -> ClassifierHead {
        try validate(samples, tags: tagIDs.count, kind: kind, tagNames: tagIDs)
        let d = EfficientNetLite.featureSize, c = tagIDs.count
        var rows: [Float] = []
        var labels: [[Int]] = []
        for s in samples { for v in s.views { rows += v.map(ClassifierHead.transform); labels.append(s.tags) } }
        let n = labels.count
        // Standardise with the training set's statistics (kept in the head).
        var mean = [Float](repeating: 0, count: d), scale = [Float](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += rows[i * d + j] } }
        for j in 0..<d { mean[j] /= Float(n) }
        for i in 0..<n { for j in 0..<d { let z = rows[i * d + j] - mean[j]; scale[j] += z * z } }
        for j in 0..<d { scale[j] = 1 / max((scale[j] / Float(n)).squareRoot(), 1e-3) }
        for i in 0..<n { for j in 0..<d { rows[i * d + j] = (rows[i * d + j] - mean[j]) * scale[j] } }

        // Targets and class-balancing weights.
        var y = [Float](repeating: 0, count: n * c)
        for (i, tags) in labels.enumerated() { for t in tags { y[i * c + t] = 1 } }
        var positives = [Float](repeating: 0, count: c)
        for i in 0..<n { for t in 0..<c { positives[t] += y[i * c + t] } }
        var w = [Float](repeating: 1, count: n * c)
        switch kind {
        case .multiclass:
            // One class per image (its first tag); weight n / (c · n_class).
            for i in 0..<n {
                let k = labels[i].first!
                for t in 0..<c { y[i * c + t] = t == k ? 1 : 0 }
            }
            var perClass = [Float](repeating: 0, count: c)
            for i in 0..<n { perClass[labels[i].first!] += 1 }
            for i in 0..<n { let wi = Float(n) / (Float(c) * perClass[labels[i].first!]); for t in 0..<c { w[i * c + t] = wi } }
        case .multilabel:
            for t in 0..<c {
                let pos = positives[t], neg = Float(n) - positives[t]
                for i in 0..<n {
                    w[i * c + t] = y[i * c + t] == 1 ? Float(n) / (2 * max(pos, 1)) : (neg > 0 ? Float(n) / (2 * neg) : 1)
                }
            }
        }

        let l2 = options.l2
        let objective: ([Float]) -> (Double, [Float]) = { theta in
            let weights = Array(theta[0..<(c * d)]), bias = Array(theta[(c * d)...])
            var p = ClassifierHead.scores(rows, n: n, d: d, weights: weights, bias: bias, tags: c)
            var loss = 0.0
            switch kind {
            case .multiclass:
                for i in 0..<n {
                    let row = i * c
                    var m = -Float.infinity
                    for t in 0..<c { m = max(m, p[row + t]) }
                    var sum: Float = 0
                    for t in 0..<c { sum += exp(p[row + t] - m) }
                    let logSum = m + log(sum)
                    for t in 0..<c {
                        if y[row + t] == 1 { loss += Double(w[row + t]) * Double(logSum - p[row + t]) }
                        p[row + t] = exp(p[row + t] - logSum)
                    }
                }
            case .multilabel:
                for k in 0..<(n * c) {
                    let s = p[k]
                    // log(1 + e^{-|s|}) + max(s, 0) − y·s is the stable BCE with logits.
                    let bce = Double(log1p(exp(-abs(s))) + max(s, 0) - y[k] * s)
                    loss += Double(w[k]) * bce / Double(c)
                    p[k] = 1 / (1 + exp(-s))
                }
            }
            loss /= Double(n)
            // G = w ⊙ (P − Y) / n  (multilabel also / c, matching the loss).
            let norm: Float = kind == .multilabel ? Float(n * c) : Float(n)
            for k in 0..<(n * c) { p[k] = w[k] * (p[k] - y[k]) / norm }
            var grad = [Float](repeating: 0, count: c * d + c)
            p.withUnsafeBufferPointer { g in
                rows.withUnsafeBufferPointer { x in
                    grad.withUnsafeMutableBufferPointer { out in
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(c), Int32(d), Int32(n),
                                    1, g.baseAddress, Int32(c), x.baseAddress, Int32(d), 0, out.baseAddress, Int32(d))
                    }
                }
            }
            for i in 0..<n { for t in 0..<c { grad[c * d + t] += p[i * c + t] } }
            var penalty = 0.0
            for k in 0..<(c * d) { penalty += Double(weights[k] * weights[k]); grad[k] += l2 * weights[k] }
            return (loss + 0.5 * Double(l2) * penalty, grad)
        }
        let zero = [Float](repeating: 0, count: c * d + c)
        var start = zero, reference: Double?
        if let (warm, rows) = warmStart, warm.dimension == d, rows.count == c {
            // s = W·((t − μ)σ) + b = (W ⊙ σ/σ_f)·((t − μ_f)σ_f) + b + W·((μ_f − μ)σ)
            for (t, r) in rows.enumerated() {
                var b = warm.bias[r]
                for j in 0..<d {
                    let wj = warm.weights[r * d + j]
                    start[t * d + j] = wj * warm.featureScale[j] / scale[j]
                    b += wj * (mean[j] - warm.featureMean[j]) * warm.featureScale[j]
                }
                start[c * d + t] = b
            }
            reference = LBFGS.norm(objective(zero).1)
        }
        let result = LBFGS.minimise(start, maxIterations: options.maxIterations, referenceGradientNorm: reference,
                                    objective: objective)
        return ClassifierHead(kind: kind, backbone: backbone, inputSize: inputSize, tagIDs: tagIDs,
                              featureMean: mean, featureScale: scale, weights: Array(result.x[0..<(c * d)]),
                              bias: Array(result.x[(c * d)...]), l2: l2, framing: options.framing)
    }

    /// The number of folds for `samples`: 2 to 5, never more than the rarest tag has images.
    public static func folds(for samples: [TrainingSample], tags: Int) -> Int {
        var counts = [Int](repeating: 0, count: tags)
        for s in samples { for t in Set(s.tags) { counts[t] += 1 } }
        return max(2, min(5, counts.min() ?? 2))
    }

    /// Trains the final head on everything and measures it by k-fold cross-validation:
    /// each image is scored (evaluation view only) by a head that never saw it.
    public static func train(_ samples: [TrainingSample], tagIDs: [String], kind: ClassifierHead.Kind, backbone: String,
                             inputSize: Int, options: TrainingOptions = TrainingOptions()) throws -> (head: ClassifierHead, performance: PerformanceReport) {
        let head = try fit(samples, tagIDs: tagIDs, kind: kind, backbone: backbone, inputSize: inputSize, options: options)
        let k = options.folds ?? folds(for: samples, tags: tagIDs.count)
        // Stratified, seeded assignment: within each first tag, round-robin over shuffled images.
        var rng = SplitMix64(seed: options.seed)
        var fold = [Int](repeating: 0, count: samples.count)
        var byTag: [Int: [Int]] = [:]
        for (i, s) in samples.enumerated() { byTag[s.tags.min() ?? -1, default: []].append(i) }
        for key in byTag.keys.sorted() {
            var members = byTag[key]!
            members.shuffle(using: &rng)
            for (j, i) in members.enumerated() { fold[i] = j % k }
        }
        var scored: [[ScoredExample]] = Array(repeating: [], count: tagIDs.count)
        for f in 0..<k {
            let trainSet = samples.indices.filter { fold[$0] != f }.map { samples[$0] }
            let heldOut = samples.indices.filter { fold[$0] == f }
            guard !heldOut.isEmpty else { continue }
            // A tag absent from this fold's training part cannot be learnt: score it 0.
            var present = Set<Int>()
            for s in trainSet { present.formUnion(s.tags) }
            let kept = (0..<tagIDs.count).filter { present.contains($0) }
            let remap = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
            let remapped = trainSet.map { TrainingSample(views: $0.views, tags: $0.tags.compactMap { remap[$0] }) }
            var foldOptions = options
            foldOptions.maxIterations = options.maxIterations
            guard kind == .multilabel || kept.count >= 2 else { continue }
            let foldHead = try fit(remapped, tagIDs: kept.map { tagIDs[$0] }, kind: kind, backbone: backbone,
                                   inputSize: inputSize, options: foldOptions, warmStart: (head, kept))
            let probs = foldHead.probabilities(heldOut.flatMap { samples[$0].views[0] })
            for (r, i) in heldOut.enumerated() {
                for t in 0..<tagIDs.count {
                    let p = remap[t].map { probs[r * kept.count + $0] } ?? 0
                    scored[t].append(ScoredExample(score: p, positive: samples[i].tags.contains(t), fold: f, sample: i))
                }
            }
        }
        return (head, PerformanceReport(tagIDs: tagIDs, scored: scored, folds: k))
    }
}
