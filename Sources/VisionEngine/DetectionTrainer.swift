import Foundation

/// One detection training image: its cache hash and its boxes (normalised, tag indices).
public struct DetectionSample: Sendable {
    public var hash: String
    public var boxes: [LabeledBox]
    public init(hash: String, boxes: [LabeledBox]) { self.hash = hash; self.boxes = boxes }
}

/// Measured with `sightline-bench detect` (release, 2 cores): on the composites (60
/// training images, 40 unseen test images) width 128 and 256 both reach mAP@0.5 0.97 and
/// 16 views give nothing over 12; on DeepForest tiles (27 train, 9 test, dense ~40 px
/// trees) width 256 reaches 0.37 against 0.34 at 2–4× the training time. Quick training
/// takes the narrow head to stay within its time budget; Advanced the wide one.
public struct DetectionTrainingOptions: Sendable {
    public var views = 12
    /// Samples (view passes) the schedule aims for, and the fewest epochs over all views.
    public var targetSamples = 6_400
    public var minimumEpochs = 6
    public var maximumSamples = 24_000
    public var batchSize = 16
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 1e-4
    public var dropout: Float = 0.3
    public var width = 128
    public var seed: UInt64 = 11
    /// OpenMP threads for the head's convolutions.
    public var threads = 1
    /// Share of images held out to measure the iteration.
    public var heldOutShare = 0.2
    public init() {}

    /// Advanced training: more views, a longer schedule, the wider head.
    public static var advanced: DetectionTrainingOptions {
        var o = DetectionTrainingOptions()
        o.views = 20; o.targetSamples = 12_000; o.maximumSamples = 40_000; o.width = 256
        return o
    }
}

public enum DetectionTrainingError: Error, Equatable, CustomStringConvertible {
    case noImages
    case missingFeatures(String)
    case cancelled
    public var description: String {
        switch self {
        case .noImages: "there are no images with regions"
        case .missingFeatures(let h): "features of image \(h) are not cached"
        case .cancelled: "cancelled"
        }
    }
}

/// Trains the detection head (Dropout2d → 1×1 conv, BN, ReLU → 3×3 conv, BN, ReLU →
/// 1×1 conv) with AdamW, warm-up then cosine, on cached views, and measures it on a
/// seeded held-out share of the images.
public enum DetectionTrainer {
    final class Network {
        let conv1: ConvolutionLayer, bn1: BatchNormLayer, conv2: ConvolutionLayer, bn2: BatchNormLayer, conv3: ConvolutionLayer
        var layers: [any Layer] { [conv1, bn1, conv2, bn2, conv3] }

        init(inputs: Int, width: Int, outputs: Int, classes: Int, seed: UInt64, threads: Int) {
            conv1 = ConvolutionLayer(cin: inputs, cout: width, k: 1, relu6: false, seed: seed)
            conv1.computesInputGradient = false
            bn1 = BatchNormLayer(channels: width, relu: true)
            conv2 = ConvolutionLayer(cin: width, cout: width, k: 3, relu6: false, seed: seed &+ 1)
            bn2 = BatchNormLayer(channels: width, relu: true)
            // A small last layer and objectness starting near σ(−4): few boxes at first.
            let last = ConvolutionLayer(cin: width, cout: outputs, k: 1, relu6: false, seed: seed &+ 2)
            for i in last.weights.value.indices { last.weights.value[i] *= 0.1 }
            for a in 0..<DetectionGrid.anchors.count { last.bias.value[a * (5 + classes) + 4] = -4 }
            conv3 = last
            for c in [conv1, conv2, conv3] { c.threads = threads }
        }

        var parameters: [Parameter] { layers.flatMap(\.parameters) }

        func forward(_ x: Tensor) -> Tensor { layers.reduce(x) { $1.forward($0) } }
        func backward(_ dy: Tensor) { _ = layers.reversed().reduce(dy) { $1.backward($0) } }

        func head(backbone: String, inputSize: Int, tagIDs: [String]) -> DetectorHead {
            func fold(_ conv: ConvolutionLayer, _ bn: BatchNormLayer) -> ([Float], [Float]) {
                let (scale, shift) = bn.folded
                let per = conv.weights.value.count / conv.cout
                var w = conv.weights.value, b = conv.bias.value
                for o in 0..<conv.cout {
                    for i in 0..<per { w[o * per + i] *= scale[o] }
                    b[o] = b[o] * scale[o] + shift[o]
                }
                return (w, b)
            }
            let (w1, b1) = fold(conv1, bn1), (w2, b2) = fold(conv2, bn2)
            return DetectorHead(backbone: backbone, inputSize: inputSize, tagIDs: tagIDs, width: conv1.cout,
                                w1: w1, b1: b1, w2: w2, b2: b2, w3: conv3.weights.value, b3: conv3.bias.value)
        }
    }

    /// Steps of one fit: about `targetSamples` view passes, at least `minimumEpochs`
    /// epochs, at most `maximumSamples`.
    public static func steps(images: Int, options o: DetectionTrainingOptions) -> Int {
        let perEpoch = images * o.views
        let samples = min(max(o.targetSamples, o.minimumEpochs * perEpoch), max(o.maximumSamples, perEpoch))
        return max(1, (samples + o.batchSize - 1) / o.batchSize)
    }

    /// Fits a head on all views of `samples`. `progress(fraction)` returning false cancels.
    public static func fit(_ samples: [DetectionSample], tagIDs: [String], extractor: DetectionExtractor,
                           options o: DetectionTrainingOptions = DetectionTrainingOptions(),
                           progress: (Double) -> Bool = { _ in true }) throws -> DetectorHead {
        let net = try fitNetwork(samples, classes: tagIDs.count, extractor: extractor, options: o,
                                 steps: steps(images: samples.count, options: o), peak: o.learningRate, progress: progress)
        return net.head(backbone: extractor.model.variant.rawValue, inputSize: extractor.inputSize, tagIDs: tagIDs)
    }

    /// The optimisation: AdamW, `steps` batches, linear warm-up over the first 5 % to
    /// `peak`, then cosine decay; from `start` when given (fine-tuning), else from scratch.
    static func fitNetwork(_ samples: [DetectionSample], classes: Int, extractor: DetectionExtractor, options o: DetectionTrainingOptions,
                           steps total: Int, peak: Float, start: Network? = nil, progress: (Double) -> Bool) throws -> Network {
        guard !samples.isEmpty else { throw DetectionTrainingError.noImages }
        let views = DetectionView.views(count: o.views)
        let cells = DetectionGrid.cells(inputSize: extractor.inputSize)
        let inputs = DetectionFeatures.channels()
        let net = start ?? Network(inputs: inputs, width: o.width, outputs: DetectionGrid.channels(classes: classes), classes: classes,
                                   seed: o.seed, threads: o.threads)
        net.bn1.training = true; net.bn2.training = true
        let optimiser = AdamOptimizer(learningRate: peak, weightDecay: o.weightDecay)
        var rng = SplitMix64(seed: o.seed &+ UInt64(total))
        let pairs = samples.indices.flatMap { s in views.indices.map { (s, $0) } }
        var order: [(Int, Int)] = []
        let warmup = max(1, total / 20)
        let parameters = net.parameters
        let keep = 1 / (1 - o.dropout)
        for step in 0..<total {
            if step % 20 == 0, !progress(Double(step) / Double(total)) { throw DetectionTrainingError.cancelled }
            let rate = step < warmup ? peak * Float(step + 1) / Float(warmup)
                : peak * Float(0.5 * (1 + cos(Double.pi * Double(step - warmup) / Double(max(total - warmup, 1)))))
            optimiser.learningRate = max(rate, peak * 1e-3)
            var batch: [(Int, Int)] = []
            while batch.count < min(o.batchSize, pairs.count) {
                if order.isEmpty { order = pairs; order.shuffle(using: &rng) }
                batch.append(order.removeLast())
            }
            var x = [Float](); x.reserveCapacity(batch.count * cells * cells * inputs)
            var targets: [[LabeledBox]] = []
            for (s, v) in batch {
                guard let f = try extractor.cache.loadHalves(extractor.key(samples[s].hash, views[v])), f.count == cells * cells * inputs else {
                    throw DetectionTrainingError.missingFeatures(samples[s].hash)
                }
                // Dropout2d: whole channels, kept ones scaled up.
                let mask = o.dropout > 0 ? (0..<inputs).map { _ in rng.nextUnit() < Double(o.dropout) ? Float(0) : keep }
                    : [Float](repeating: 1, count: inputs)
                HalfFloats.append(f, scaledBy: mask, to: &x)
                targets.append(views[v].boxes(samples[s].boxes))
            }
            let out = net.forward(Tensor(n: batch.count, h: cells, w: cells, c: inputs, data: x))
            let (_, g) = DetectionLoss.evaluate(out.data, targets: targets, classes: classes)
            net.backward(Tensor(n: out.n, h: out.h, w: out.w, c: out.c, data: g))
            optimiser.update(parameters)
        }
        net.bn1.training = false; net.bn2.training = false
        _ = progress(1)
        return net
    }

    /// The final fit continues from the measured network on every image for this share
    /// of a full schedule, at this share of the learning rate.
    static let fineTuneSteps = 0.4
    static let fineTuneRate: Float = 0.3

    /// The images held out for measuring: a seeded share, at least one, never all, and
    /// never so many that a tag is left without training images.
    public static func heldOut(_ samples: [DetectionSample], classes: Int, options o: DetectionTrainingOptions) -> Set<Int> {
        HeldOutFold.choose(tags: samples.map { Set($0.boxes.map(\.tag)) }, classes: classes, share: o.heldOutShare, seed: o.seed &+ 99)
    }

    /// Measures a network fitted without the held-out images on them (whole-image view),
    /// then fine-tunes that network on every image for the final head: the shipped model
    /// has seen all images, and training costs 1.4 schedules instead of 2.
    public static func train(_ samples: [DetectionSample], tagIDs: [String], extractor: DetectionExtractor,
                             options o: DetectionTrainingOptions = DetectionTrainingOptions(),
                             progress: (Double) -> Bool = { _ in true }) throws -> (head: DetectorHead, report: DetectionReport) {
        let held = heldOut(samples, classes: tagIDs.count, options: o)
        let trainPart = samples.indices.filter { !held.contains($0) }.map { samples[$0] }
        let first = steps(images: trainPart.count, options: o)
        let second = held.isEmpty ? 0 : max(1, Int(Double(steps(images: samples.count, options: o)) * fineTuneSteps))
        let share = Double(first) / Double(first + second)
        let backbone = extractor.model.variant.rawValue
        let net = try fitNetwork(trainPart, classes: tagIDs.count, extractor: extractor, options: o, steps: first,
                                 peak: o.learningRate) { progress($0 * share) }
        let measuring = net.head(backbone: backbone, inputSize: extractor.inputSize, tagIDs: tagIDs)
        var images: [DetectionReport.HeldOutImage] = []
        for i in held.sorted() {
            guard let f = try extractor.cache.load(extractor.key(samples[i].hash, .whole)) else {
                throw DetectionTrainingError.missingFeatures(samples[i].hash)
            }
            images.append(DetectionReport.HeldOutImage(sample: i, truth: samples[i].boxes, detections: measuring.detect(f)))
        }
        let report = DetectionReport(tagIDs: tagIDs, images: images)
        guard second > 0 else { return (measuring, report) }
        _ = try fitNetwork(samples, classes: tagIDs.count, extractor: extractor, options: o, steps: second,
                           peak: o.learningRate * fineTuneRate, start: net) { progress(share + $0 * (1 - share)) }
        return (net.head(backbone: backbone, inputSize: extractor.inputSize, tagIDs: tagIDs), report)
    }
}
