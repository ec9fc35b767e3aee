import Foundation
import VisionEngine

/// A labelled image for the classification-quality benchmark, decoded once.
struct QualityItem {
    var pixels: [UInt8], width: Int, height: Int
    var label: Int
    /// Images of one group (crops of one photo) always land on the same side of a split.
    var group: String
}

struct QualitySet {
    var name: String
    var classes: Int
    var items: [QualityItem]
}

/// Fashion-MNIST (grey product photos) from the training file: 80 images per class, each its own group.
func qualityFashion() throws -> QualitySet {
    let items = try fashion(perClass: 80).enumerated().map { i, x in
        QualityItem(pixels: x.pixels.flatMap { [$0, $0, $0] }, width: 28, height: 28, label: x.label, group: "f\(i)")
    }
    return QualitySet(name: "fashion-mnist", classes: 10, items: items)
}

/// The real-photo set built by Tests/Fixtures/make_photo_set.py (manifest of file, label, group).
func qualityPhotos() throws -> QualitySet {
    let dir = root.appendingPathComponent(".cache/datasets/photos")
    struct Entry: Decodable { var file: String; var label: String; var group: String }
    let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
    let labels = Array(Set(entries.map(\.label))).sorted()
    let items = try entries.map { e in
        let img = try ImageDecoder.rgb8(Data(contentsOf: dir.appendingPathComponent(e.file)), shorterSideAtMost: 512)
        return QualityItem(pixels: img.pixels, width: img.width, height: img.height, label: labels.firstIndex(of: e.label)!, group: e.group)
    }
    return QualitySet(name: "photos", classes: labels.count, items: items)
}

/// A seeded split: per class, whole groups in shuffled order give `perClass` training
/// images (the last group used may give only some); test images come from the groups left,
/// at most `testPerClass` per class.
func qualitySplit(_ set: QualitySet, perClass: Int, testPerClass: Int, seed: UInt64) -> (train: [Int], test: [Int])? {
    var rng = SplitMix64(seed: seed)
    var train: [Int] = [], test: [Int] = []
    for c in 0..<set.classes {
        var groups: [String: [Int]] = [:]
        for (i, item) in set.items.enumerated() where item.label == c { groups[item.group, default: []].append(i) }
        var order = groups.keys.sorted()
        order.shuffle(using: &rng)
        var taken: [Int] = [], rest: [Int] = []
        for g in order {
            var members = groups[g]!
            members.shuffle(using: &rng)
            if taken.count < perClass { taken += members.prefix(perClass - taken.count) } else { rest += members }
        }
        guard taken.count == perClass, !rest.isEmpty else { return nil }
        rest.shuffle(using: &rng)
        train += taken
        test += rest.prefix(testPerClass)
    }
    return (train, test)
}

/// `--feature-cache 1` keeps each image's backbone passes on disk between runs (for trying
/// recipes: the passes are most of a run), keyed by set, image, size, backbone and views.
/// Stale after any change to the backbone or the preprocessor: delete .cache/bench-features.
let featureCacheDir: URL? = option("feature-cache", 0) == 1 ? root.appendingPathComponent(".cache/bench-features") : nil

func cachedFeatures(_ key: String, views: Int, compute: () throws -> (features: [[Float]], maps: [Tensor])) throws -> (features: [[Float]], maps: [Tensor]) {
    guard let dir = featureCacheDir else { return try compute() }
    let file = dir.appendingPathComponent(key)
    let f = EfficientNetLite.featureSize
    if let data = try? Data(contentsOf: file), data.count > 12 {
        let floats = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let header = floats[0..<3]
        if header.allSatisfy({ $0.isFinite && $0 >= 1 && $0 <= 4096 }),
           case let (h, w, c) = (Int(header[0]), Int(header[1]), Int(header[2])), floats.count == 3 + views * (f + h * w * c) {
            var features: [[Float]] = [], maps: [Tensor] = []
            var at = 3
            for _ in 0..<views {
                features.append(Array(floats[at..<at + f])); at += f
                maps.append(Tensor(n: 1, h: h, w: w, c: c, data: Array(floats[at..<at + h * w * c]))); at += h * w * c
            }
            return (features, maps)
        }
    }
    let out = try compute()
    let m = out.maps[0]
    var floats: [Float] = [Float(m.h), Float(m.w), Float(m.c)]
    for (feature, map) in zip(out.features, out.maps) { floats += feature; floats += map.data }
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try floats.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: file, options: .atomic)
    return out
}

/// A short stable name for a list of views (FNV-1a of their JSON).
func viewsKey(_ views: [AugmentationView]) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in try! encoder.encode(views) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return String(h, radix: 16)
}

/// Pooled features and last-stage inputs of `views` for images, through the plain backbone.
func qualityFeatures(_ set: QualitySet, _ indices: [Int], views: [AugmentationView], size: Int = model.variant.inputSize) throws -> [(features: [[Float]], maps: [Tensor])] {
    let key = "\(set.name)-\(model.variant.rawValue)-\(size)-\(viewsKey(views))"
    return try indices.map { i in try cachedFeatures("\(key)-\(i).f32", views: views.count) {
        let item = set.items[i]
        var features: [[Float]] = [], maps: [Tensor] = []
        for v in views {
            let input = try Preprocessor.input(rgb: item.pixels, width: item.width, height: item.height, size: size, view: v)
            let out = model.forward(Tensor(n: 1, h: size, w: size, c: 3, data: input), maps: [.lastStageInput])
            features.append(out.features)
            maps.append(out.map(.lastStageInput)!)
        }
        return (features, maps)
    } }
}

func top1(_ p: [Float]) -> Int { p.indices.max { p[$0] < p[$1] }! }

/// Held-out top-1 accuracy of each method on each set, per training-set size and seed,
/// with the training time of each fit (features cached beforehand, as a retrain sees them).
func qualityBench(sets names: [String], perClassList: [Int], seeds: Int, methods: Set<String>) throws {
    // Colour jitter in percent: --colour 20 is ±20 %.
    let colour = Double(option("colour", Int((FineTuneOptions().colourJitter * 100).rounded()))) / 100
    let views = AugmentationView.views(count: option("views", FineTuneOptions().views), colour: colour)
    for name in names {
        let set = name == "photos" ? try qualityPhotos() : try qualityFashion()
        let tags = (0..<set.classes).map { "c\($0)" }
        for perClass in perClassList {
            var accuracy: [String: [Double]] = [:], trainMs: [String: [Double]] = [:]
            var reports: [String: [FineTuneReport]] = [:]
            var used = 0
            for s in 0..<UInt64(seeds) {
                guard let split = qualitySplit(set, perClass: perClass, testPerClass: 30, seed: 0xC1A5 + s) else { continue }
                used += 1
                let tr = try qualityFeatures(set, split.train, views: views)
                let te = try qualityFeatures(set, split.test, views: Array(views[0..<2]))
                // The train/test resolution discrepancy: training crops enlarge objects, so test larger.
                let large = methods.contains("probe-large") ? try qualityFeatures(set, split.test, views: [.identity], size: model.variant.inputSize * 9 / 7) : []
                let labels = split.train.map { set.items[$0].label }, truth = split.test.map { set.items[$0].label }
                func record(_ method: String, _ ms: Double, _ predict: (Int) -> Int) {
                    let right = truth.indices.filter { predict($0) == truth[$0] }.count
                    accuracy[method, default: []].append(Double(right) / Double(truth.count))
                    trainMs[method, default: []].append(ms)
                }
                for (method, count) in [("probe", 2), ("probe-4views", 4)] where methods.contains(method) || methods.contains(method + "-tta") {
                    var head: ClassifierHead!
                    let ms = try milliseconds {
                        head = try Trainer.fit(zip(tr, labels).map { TrainingSample(views: Array($0.features[0..<count]), tags: [$1]) },
                                               tagIDs: tags, kind: .multiclass, backbone: model.variant.rawValue, inputSize: 224)
                    }
                    if methods.contains(method) { record(method, ms) { top1(head.probabilities(te[$0].features[0])) } }
                    if method == "probe", methods.contains("probe-large") { record("probe-large", ms) { top1(head.probabilities(large[$0].features[0])) } }
                    // Test-time augmentation: the mirror's features averaged with the image's.
                    if methods.contains(method + "-tta") {
                        record(method + "-tta", ms) { j in
                            top1(head.probabilities(zip(te[j].features[0], te[j].features[1]).map { ($0 + $1) / 2 }))
                        }
                    }
                }
                // "finetune-early": the first recipe's epoch choice, early stopping on the held-out loss.
                for method in ["finetune", "finetune-early"] where methods.contains(method) {
                    var result: (model: EfficientNetLite, head: ClassifierHead, report: FineTuneReport)!
                    var options = FineTuneOptions()
                    options.earlyStopping = method == "finetune-early" || option("early-stopping", 0) == 1
                    options.epochs = option("epochs", options.earlyStopping ? 30 : options.epochs)
                    // Rates in millionths, for trying others: --tail-rate 100 is 1e-4.
                    options.tailRate = Float(option("tail-rate", Int(options.tailRate * 1e6))) / 1e6
                    options.headRate = Float(option("head-rate", Int(options.headRate * 1e6))) / 1e6
                    options.patience = option("patience", options.patience)
                    options.probeViews = option("probe-views", options.probeViews)
                    options.colourJitter = colour
                    options.mix = Float(option("mix", Int((options.mix * 100).rounded()))) / 100
                    // Mixup's α and label smoothing in percent: --mixup 40 is α = 0.4.
                    options.mixup = Float(option("mixup", 0)) / 100
                    options.smoothing = Float(option("smoothing", 0)) / 100
                    // --held-out 0: no held-out fold and no check, the schedule on every image.
                    options.heldOutShare = Double(option("held-out", Int((options.heldOutShare * 100).rounded()))) / 100
                    let ms = try milliseconds {
                        result = try ClassifierFineTuner.train(zip(tr, labels).map { FineTuneSample(maps: $0.maps, features: $0.features, tags: [$1]) },
                                                               tagIDs: tags, kind: .multiclass, model: model, options: options)
                    }
                    reports[method, default: []].append(result.report)
                    // What ships: the fine-tuned network's whole forward pass, then its head.
                    let size = model.variant.inputSize
                    let tuned = try split.test.map { i -> [Float] in
                        let item = set.items[i]
                        let input = try Preprocessor.input(rgb: item.pixels, width: item.width, height: item.height, size: size)
                        return result.model.features(Tensor(n: 1, h: size, w: size, c: 3, data: input))
                    }
                    record(method, ms) { top1(result.head.probabilities(tuned[$0])) }
                }
            }
            for method in accuracy.keys.sorted() {
                var fields: [String: Any] = ["set": set.name, "per_class": perClass, "method": method, "splits": used,
                                             "accuracy": accuracy[method]!, "train_ms": trainMs[method]!]
                if let reports = reports[method] {
                    fields["epochs"] = reports.map(\.epochs)
                    fields["probe_held_out_accuracy"] = reports.map(\.probeHeldOutAccuracy)
                    fields["best_held_out_accuracy"] = reports.map(\.bestHeldOutAccuracy)
                }
                emit("quality", fields)
            }
        }
    }
}
