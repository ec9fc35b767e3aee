import Foundation
import VisionEngine

// Engine benchmarks (release build). Each mode prints one JSON line with the raw
// per-iteration timings; Benchmarks/run.py runs the modes next to onnxruntime and the
// NumPy reference in the same session and reports medians and ratios.
//
//   sightline-bench forward --batch 8 --threads 1 --iterations 20 [--size 416] [--head 1]
//   sightline-bench features | heads | retrain [--per-class 50] | pipeline [--image photo.jpg] [--jobs 2]
//   sightline-bench jobs --jobs 2 --threads 1        (training and prediction throughput)
//   sightline-bench export-onnx --out model.onnx --opset 12 [--multilabel 1] [--size 416]
//   sightline-bench export-tflite --out model.tflite [--size 224]
//   sightline-bench export-sizes                  (every export writer: model bytes, write time)
//   sightline-bench quality [--sets photos,fashion-mnist] [--per-class 5,15,50] [--seeds 5] [--methods probe,probe-tta,finetune]
//                                            (classification accuracy: linear probe, TTA, fine-tuning)
//   sightline-bench framing [--seeds 5]     (classifier accuracy, whole-image vs centre-crop framing)
//   sightline-bench detect [--forest 1] [--per-tag 30] [--images N] [--views 16] [--samples 6400] [--max-samples 24000] [--input 416]
//                                            (detection: backbone passes, head training, held-out mAP@0.5)

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
/// `--lite1 1` runs a mode on EfficientNet-Lite1 (General [A1]) instead of Lite0.
let variant: EfficientNetLite.Variant = CommandLine.arguments.contains("--lite1") ? .lite1 : .lite0
let weights = root.appendingPathComponent(".cache/weights/\(variant.rawValue).pth").path
let golden = root.deletingLastPathComponent().appendingPathComponent("shared/reference/efficientnet-lite/golden/efficientnet-lite0.golden_input.f32")

func option(_ name: String, _ fallback: Int) -> Int {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: "--\(name)"), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    return v
}

func emit(_ mode: String, _ fields: [String: Any]) {
    var all = fields
    all["mode"] = mode
    let data = try! JSONSerialization.data(withJSONObject: all, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func milliseconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
}

func goldenInput() throws -> [Float] {
    let d = try Data(contentsOf: golden)
    return d.withUnsafeBytes { raw in (0..<d.count / 4).map { raw.load(fromByteOffset: $0 * 4, as: Float.self) } }
}

/// Fashion-MNIST images (for head timings on real features), as in the engine tests.
func fashion(perClass: Int) throws -> [(pixels: [UInt8], label: Int)] {
    let dir = root.appendingPathComponent(".cache/datasets/fashion-mnist")
    let img = [UInt8](try Data(contentsOf: dir.appendingPathComponent("train-images-idx3-ubyte")))
    let lab = [UInt8](try Data(contentsOf: dir.appendingPathComponent("train-labels-idx1-ubyte")))
    var count = [Int](repeating: 0, count: 10), out: [([UInt8], Int)] = []
    for i in 0..<(lab.count - 8) where count[Int(lab[8 + i])] < perClass {
        count[Int(lab[8 + i])] += 1
        out.append((Array(img[16 + i * 784..<16 + (i + 1) * 784]), Int(lab[8 + i])))
    }
    return out
}

func source(_ gray: [UInt8], _ id: String) -> FeatureSource {
    FeatureSource(hash: id) { (gray.flatMap { [$0, $0, $0] }, 28, 28) }
}

/// The golden input scaled (nearest neighbour) to `size`.
func goldenInput(size: Int) throws -> [Float] {
    let g = try goldenInput()
    guard size != 224 else { return g }
    var out = [Float](repeating: 0, count: size * size * 3)
    for y in 0..<size { for x in 0..<size { for c in 0..<3 { out[(y * size + x) * 3 + c] = g[((y * 224 / size) * 224 + x * 224 / size) * 3 + c] } } }
    return out
}

/// A seeded synthetic head (5 tags): the same one `export-onnx` writes into the model.
func syntheticHead(size: Int) -> ClassifierHead {
    let tags = 5, d = EfficientNetLite.featureSize
    var rng = SplitMix64(seed: 7)
    func unit() -> Float { Float(rng.next() >> 40) / Float(1 << 24) - 0.5 }
    return ClassifierHead(kind: option("multilabel", 0) == 1 ? .multilabel : .multiclass, backbone: model.variant.rawValue,
                          inputSize: size, tagIDs: (0..<tags).map { "t\($0)" },
                          featureMean: (0..<d).map { _ in 0.3 + unit() * 0.2 }, featureScale: (0..<d).map { _ in 1 + unit() },
                          weights: (0..<tags * d).map { _ in unit() * 0.1 }, bias: (0..<tags).map { _ in unit() }, l2: 0.3)
}

let mode = CommandLine.arguments.dropFirst().first ?? "forward"
let model = try EfficientNetLite.load(variant: variant, path: weights).with(threads: option("threads", 1))
EfficientNetLite.setBLASThreads(option("threads", 1))

switch mode {
case "forward":
    // The backbone alone, or with --head 1 the whole exported classifier's work.
    let batch = option("batch", 1), iterations = option("iterations", 20), size = option("size", 224)
    let one = try goldenInput(size: size)
    let input = Tensor(n: batch, h: size, w: size, c: 3, data: Array((0..<batch).map { _ in one }.joined()))
    let head = option("head", 0) == 1 ? syntheticHead(size: size) : nil
    func pass() { let f = model.features(input); if let head { _ = head.probabilities(f) } }
    for _ in 0..<2 { pass() }
    var times: [Double] = []
    for _ in 0..<iterations { times.append(milliseconds { pass() } / Double(batch)) }
    emit(mode, ["batch": batch, "threads": option("threads", 1), "size": size, "ms_per_image": times])

case "pipeline":
    // What a prediction costs per image: JPEG decode, crop and resize, the forward pass.
    let args = CommandLine.arguments
    let path = args.firstIndex(of: "--image").flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
        ?? root.appendingPathComponent("Tests/Fixtures/images/landscape.jpg").path
    let jpeg = try Data(contentsOf: URL(fileURLWithPath: path))
    // --jobs J runs J such loops at once (the server's engine threads serving predictions).
    let n = option("images", 40), jobs = option("jobs", 1), head = syntheticHead(size: 224)
    func one() throws { _ = head.probabilities(model.features(Tensor(n: 1, h: 224, w: 224, c: 3, data: try Preprocessor.input(encoded: jpeg, size: 224)))) }
    for _ in 0..<2 { try one() }
    let ms = milliseconds { DispatchQueue.concurrentPerform(iterations: jobs) { _ in for _ in 0..<n { try? one() } } }
    emit(mode, ["images": n * jobs, "jobs": jobs, "threads": option("threads", 1), "bytes": jpeg.count,
                "images_per_second": Double(n * jobs) / (ms / 1000)])

case "jobs":
    // --jobs J concurrent jobs of --threads T each: training's batched feature extraction
    // (images per second over all jobs) and predictions' batch-1 latency.
    let jobs = option("jobs", 1), perJob = option("images", 48)
    let one = try goldenInput()
    let batch8 = Tensor(n: 8, h: 224, w: 224, c: 3, data: Array((0..<8).map { _ in one }.joined()))
    let single = Tensor(n: 1, h: 224, w: 224, c: 3, data: one)
    _ = model.features(batch8); _ = model.features(single)
    let trainMs = milliseconds {
        DispatchQueue.concurrentPerform(iterations: jobs) { _ in for _ in 0..<(perJob / 8) { _ = model.features(batch8) } }
    }
    let latencies = UnsafeMutableBufferPointer<Double>.allocate(capacity: jobs * 20)
    defer { latencies.deallocate() }
    let predictMs = milliseconds {
        DispatchQueue.concurrentPerform(iterations: jobs) { j in for i in 0..<20 { latencies[j * 20 + i] = milliseconds { _ = model.features(single) } } }
    }
    emit(mode, ["jobs": jobs, "threads": option("threads", 1),
                "training_images_per_second": Double(jobs * (perJob / 8) * 8) / (trainMs / 1000),
                "prediction_ms": Array(latencies), "predictions_per_second": Double(jobs * 20) / (predictMs / 1000)])

case "features":
    // Preprocessing (crop, bicubic resize) and the forward pass, through the cache.
    let one = try goldenInput().map { UInt8(max(0, min(255, $0 * 128 + 127)).rounded()) }
    let n = option("images", 64)
    let sources = (0..<n).map { i in FeatureSource(hash: "img\(i)") { (one, 224, 224) } }
    let extractor = FeatureExtractor(model: model, cache: InMemoryFeatureCache())
    let ms = try milliseconds { _ = try extractor.features(sources, views: [.identity]) }
    emit(mode, ["images": n, "images_per_second": Double(n) / (ms / 1000)])

case "heads", "retrain":
    // 10 tags × 50 images (--per-class), features cached (2 views), as a project's retrain sees them.
    let perClass = max(1, option("per-class", 50))
    let train = try fashion(perClass: perClass + 5)
    var seen = [Int](repeating: 0, count: 10)
    let base = train.filter { seen[$0.label] += 1; return seen[$0.label] <= perClass }
    seen = [Int](repeating: 0, count: 10)
    let extra = Array(train.filter { seen[$0.label] += 1; return seen[$0.label] > perClass }.prefix(5))
    let cache = InMemoryFeatureCache()
    let extractor = FeatureExtractor(model: model, cache: cache)
    let views = AugmentationView.views(count: 2)
    let tagIDs = (0..<10).map { "t\($0)" }
    var coldMs = 0.0
    var features: [[[Float]]] = []
    coldMs = try milliseconds { features = try extractor.features(base.enumerated().map { source($1.pixels, "b\($0)") }, views: views).features }
    let samples = zip(features, base).map { TrainingSample(views: $0, tags: [$1.label]) }
    if mode == "heads" {
        var fit: [Double] = [], withCV: [Double] = []
        for _ in 0..<option("iterations", 3) {
            fit.append(try milliseconds { _ = try Trainer.fit(samples, tagIDs: tagIDs, kind: .multiclass, backbone: "b", inputSize: 224) })
            withCV.append(try milliseconds { _ = try Trainer.train(samples, tagIDs: tagIDs, kind: .multiclass, backbone: "b", inputSize: 224) })
        }
        emit(mode, ["cold_features_ms": coldMs, "fit_ms": fit, "fit_and_cv_ms": withCV])
    } else {
        var times: [Double] = [], computed = 0
        let all = base + extra
        let ms = try milliseconds {
            let r = try extractor.features(all.enumerated().map { source($1.pixels, $0 < base.count ? "b\($0)" : "e\($0)") }, views: views)
            computed = r.computed
            let s = zip(r.features, all).map { TrainingSample(views: $0, tags: [$1.label]) }
            _ = try Trainer.train(s, tagIDs: tagIDs, kind: .multiclass, backbone: "b", inputSize: 224)
        }
        times.append(ms)
        emit(mode, ["computed_features": computed, "retrain_with_cv_ms": times, "cold_features_ms": coldMs])
    }

case "export-onnx":
    // The synthetic head exported with the backbone; prints the engine's own
    // probabilities for the golden input, so a benchmark or a check can compare.
    let size = option("size", 224)
    let head = syntheticHead(size: size)
    let args = CommandLine.arguments
    guard let o = args.firstIndex(of: "--out"), o + 1 < args.count, let opset = ONNXOpset(rawValue: option("opset", 12)) else {
        FileHandle.standardError.write(Data("export-onnx needs --out PATH and --opset 10|12\n".utf8)); exit(2)
    }
    let onnx = try ONNXExporter.export(backbone: model, head: head, labels: head.tagIDs, opset: opset, producerVersion: "bench")
    try onnx.write(to: URL(fileURLWithPath: args[o + 1]))
    let probabilities = head.probabilities(model.features(Tensor(n: 1, h: size, w: size, c: 3, data: try goldenInput(size: size))))
    emit(mode, ["bytes": onnx.count, "probabilities": probabilities.map(Double.init)])

case "export-tflite":
    // As export-onnx, for the TFLite writer (input NHWC BGR 0-255).
    let size = option("size", 224)
    let head = syntheticHead(size: size)
    let args = CommandLine.arguments
    guard let o = args.firstIndex(of: "--out"), o + 1 < args.count else {
        FileHandle.standardError.write(Data("export-tflite needs --out PATH\n".utf8)); exit(2)
    }
    let file = try TFLiteExporter.export(backbone: model, head: head, labels: head.tagIDs)
    try file.write(to: URL(fileURLWithPath: args[o + 1]))
    let probabilities = head.probabilities(model.features(Tensor(n: 1, h: size, w: size, c: 3, data: try goldenInput(size: size))))
    emit(mode, ["bytes": file.count, "probabilities": probabilities.map(Double.init)])

case "export-sizes":
    // Every export writer on Lite0: a 5-tag classifier at 224 and a 2-tag detector (width
    // 128) at 416, synthetic weights of the trained shapes. Bytes of the model files and the
    // median of 3 writes in ms (the zip and the job around it not included).
    let classifier = syntheticHead(size: 224)
    var rng = SplitMix64(seed: 9)
    func unit(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 } }
    let width = 128, channels = DetectionFeatures.channels(), outputs = DetectionGrid.channels(classes: 2)
    let detector = DetectorHead(backbone: model.variant.rawValue, inputSize: 416, tagIDs: ["a", "b"], width: width,
                                w1: unit(width * channels), b1: unit(width), w2: unit(width * width * 9), b2: unit(width),
                                w3: unit(outputs * width), b3: unit(outputs))
    let writers: [(String, String, () throws -> Int)] = [
        ("classification", "ONNX", { try ONNXExporter.export(backbone: model, head: classifier, labels: classifier.tagIDs, opset: .v12, producerVersion: "bench").count }),
        ("classification", "OpenVino", { let f = try OpenVINOExporter.export(backbone: model, head: classifier, labels: classifier.tagIDs); return f.xml.count + f.weights.count }),
        ("classification", "TensorFlow", { try TensorFlowExporter.export(backbone: model, head: classifier, labels: classifier.tagIDs).count }),
        ("classification", "OnnxFloat16", { try ONNXExporter.export(backbone: model, head: classifier, labels: classifier.tagIDs, opset: .v12, producerVersion: "bench", float16: true).count }),
        ("classification", "TensorFlowLite", { try TFLiteExporter.export(backbone: model, head: classifier, labels: classifier.tagIDs).count }),
        ("classification", "CoreML", { try CoreMLExporter.export(backbone: model, head: classifier, labels: classifier.tagIDs).count }),
        ("detection", "OnnxFloat16", { try ONNXExporter.exportDetector(backbone: model, head: detector, labels: detector.tagIDs, opset: .v12, producerVersion: "bench", float16: true).count }),
        ("detection", "TensorFlowLite", { try TFLiteExporter.exportDetector(backbone: model, head: detector, labels: detector.tagIDs).count }),
        ("detection", "CoreML", { try CoreMLExporter.exportDetector(backbone: model, head: detector, labels: detector.tagIDs).count }),
        ("detection", "ONNX", { try ONNXExporter.exportDetector(backbone: model, head: detector, labels: detector.tagIDs, opset: .v12, producerVersion: "bench").count }),
        ("detection", "OpenVino", { let f = try OpenVINOExporter.exportDetector(backbone: model, head: detector, labels: detector.tagIDs); return f.xml.count + f.weights.count }),
        ("detection", "TensorFlow", { try TensorFlowExporter.exportDetector(backbone: model, head: detector, labels: detector.tagIDs).count }),
    ]
    for (kind, platform, write) in writers {
        var bytes = 0
        let times = try (0..<3).map { _ in try milliseconds { bytes = try write() } }.sorted()
        emit(mode, ["kind": kind, "platform": platform, "bytes": bytes, "median_ms": times[1]])
    }

case "detect":
    // Trains a detector on the detection fixtures (composites of real photos, or
    // DeepForest tiles with --forest 1) and measures it on images it never saw.
    let forest = option("forest", 0) == 1
    let dir = root.appendingPathComponent(".cache/datasets/\(forest ? "deepforest-tiles" : "od-composites")")
    struct Entry: Decodable { var file: String; var split: String?; var boxes: [[Float]]; var tags: [String] }
    let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
    let tagNames = Array(Set(entries.flatMap(\.tags))).sorted()
    func labeled(_ e: Entry) -> [LabeledBox] {
        zip(e.boxes, e.tags).map { b, t in LabeledBox(tag: tagNames.firstIndex(of: t)!, box: NormalisedBox(left: b[0], top: b[1], width: b[2], height: b[3])) }
    }
    var train: [Entry] = [], test: [Entry] = []
    if forest {
        for (i, e) in entries.enumerated() where !e.boxes.isEmpty { if i % 4 == 3 { test.append(e) } else { train.append(e) } }
    } else {
        let perTag = option("per-tag", 30)
        let byTag = tagNames.map { t in Array(entries.filter { $0.split == "bench" && $0.tags == [t] }.prefix(perTag)) }
        // --images N: the first N taking the tags in turn (15 = 8 + 7, a size the API refuses).
        for i in 0..<(byTag.map(\.count).max() ?? 0) { for list in byTag where i < list.count { train.append(list[i]) } }
        train = Array(train.prefix(option("images", train.count)))
        test = entries.filter { $0.split == "benchtest" }
    }
    var options = DetectionTrainingOptions()
    options.views = option("views", options.views)
    options.targetSamples = option("samples", options.targetSamples)
    options.maximumSamples = option("max-samples", options.maximumSamples)
    options.threads = option("threads", 1)
    options.width = option("width", options.width)
    options.batchSize = option("batch", options.batchSize)
    let cache = InMemoryDetectionFeatureCache()
    // --input 608 etc.: a larger input and a finer grid (one cell per 32 px).
    let extractor = DetectionExtractor(model: model, cache: cache, inputSize: option("input", DetectionGrid.inputSize))
    func src(_ e: Entry) -> FeatureSource { .encoded(try! Data(contentsOf: dir.appendingPathComponent(e.file)), hash: e.file) }
    let views = DetectionView.views(count: options.views)
    if option("phases", 0) == 1 {
        // Where a view's time goes, on the first training image.
        let img = try ImageDecoder.rgb8(try Data(contentsOf: dir.appendingPathComponent(train[0].file)))
        var phase: [String: [Double]] = [:]
        for v in views {
            var x: [Float] = [], out: BackboneOutput!, inputs: [[Float]] = []
            phase["input", default: []].append(try milliseconds { x = try v.input(rgb: img.pixels, width: img.width, height: img.height) })
            phase["forward_maps", default: []].append(milliseconds { out = model.forward(Tensor(n: 1, h: 416, w: 416, c: 3, data: x), maps: Set(DetectionFeatures.levels)) })
            phase["head_inputs", default: []].append(milliseconds { inputs = DetectionFeatures.headInputs(out) })
            phase["encode", default: []].append(milliseconds { _ = HalfFloats.encode(inputs[0]) })
        }
        let x = try views[0].input(rgb: img.pixels, width: img.width, height: img.height)
        for (name, maps) in [("no_maps", Set<FeatureLevel>()), ("head_map", [.head]), ("stride16_map", [.stride16]), ("both_maps", Set(DetectionFeatures.levels))] {
            for _ in 0..<2 { _ = model.forward(Tensor(n: 1, h: 416, w: 416, c: 3, data: x), maps: maps) }
            for _ in 0..<10 { phase[name, default: []].append(milliseconds { _ = model.forward(Tensor(n: 1, h: 416, w: 416, c: 3, data: x), maps: maps) }) }
        }
        emit("detect-phases", phase.mapValues { $0.sorted()[$0.count / 2] })
    }
    let extractMs = try milliseconds { _ = try extractor.extract(train.map(src), views: views) }
    let samples = train.map { DetectionSample(hash: $0.file, boxes: labeled($0)) }
    var head: DetectorHead!
    var heldOutMap = -1.0
    let fitMs = try milliseconds {
        if option("full", 0) == 1 {
            // What a training job does: measure on held-out images, then fine-tune on all.
            let r = try DetectionTrainer.train(samples, tagIDs: tagNames, extractor: extractor, options: options)
            head = r.head
            heldOutMap = r.report.summary(threshold: 0.5, overlap: 0.5).meanAveragePrecision
        } else {
            head = try DetectionTrainer.fit(samples, tagIDs: tagNames, extractor: extractor, options: options)
        }
    }
    var images: [DetectionReport.HeldOutImage] = []
    var detectMs: [Double] = []
    for (i, e) in test.enumerated() {
        let data = try Data(contentsOf: dir.appendingPathComponent(e.file))
        var found: [Detection] = []
        detectMs.append(try milliseconds {
            let img = try ImageDecoder.rgb8(data)
            found = head.detect(try extractor.headInput(rgb: img.pixels, width: img.width, height: img.height, view: .whole))
        })
        images.append(.init(sample: i, truth: labeled(e), detections: found))
    }
    let summary = DetectionReport(tagIDs: tagNames, images: images).summary(threshold: 0.5, overlap: 0.5)
    emit(mode, ["train_images": train.count, "test_images": test.count, "views": options.views,
                "steps": DetectionTrainer.steps(images: train.count, options: options),
                "input": extractor.inputSize, "extract_ms": extractMs, "fit_ms": fitMs, "held_out_map50": heldOutMap, "width": options.width, "detect_ms": detectMs, "map50": summary.meanAveragePrecision,
                "per_tag_ap": summary.perTag.map(\.averagePrecision), "recall_at_0_5": summary.recall, "precision_at_0_5": summary.precision])

case "framing":
    // The same classifier trained and tested with each framing (Custom Vision's whole image
    // resized, or the backbone reference's centre crop) on the same splits: Fashion-MNIST as
    // delivered (square), Fashion-MNIST stretched to assorted aspect ratios as photos come,
    // and crops of assorted aspect cut from the real aerial photos in the DeepForest wheel,
    // classed by the photo they come from (training crops from one part of each photo, test
    // crops from another). Prints held-out accuracy per seed.
    let seeds = option("seeds", 5)
    let framingSets = try framingDatasets(seeds: seeds)
    for (name, splits) in framingSets {
        for framing in [Framing.centreCrop, .whole] {
            var accuracies: [Double] = []
            for split in splits {
                let extractor = FeatureExtractor(model: model, cache: InMemoryFeatureCache())
                let views = AugmentationView.views(count: 2, framing: framing)
                let tr = try extractor.features(split.train.map(\.source), views: views).features
                let te = try extractor.features(split.test.map(\.source), views: [.plain(framing)]).features
                let tags = (0..<split.classes).map { "c\($0)" }
                var options = TrainingOptions()
                options.framing = framing
                let head = try Trainer.fit(zip(tr, split.train).map { TrainingSample(views: $0, tags: [$1.label]) }, tagIDs: tags,
                                           kind: .multiclass, backbone: model.variant.rawValue, inputSize: 224, options: options)
                var right = 0
                for (f, item) in zip(te, split.test) {
                    let p = head.probabilities(f[0])
                    if p.indices.max(by: { p[$0] < p[$1] }) == item.label { right += 1 }
                }
                accuracies.append(Double(right) / Double(split.test.count))
            }
            emit(mode, ["set": name, "framing": framing.rawValue, "train": splits[0].train.count, "test": splits[0].test.count,
                        "accuracy": accuracies])
        }
    }

case "quality":
    // Classification accuracy beyond the linear probe: each method on the same seeded splits
    // of Fashion-MNIST and the real-photo set, at several training-set sizes.
    func list(_ name: String, _ fallback: String) -> [String] {
        let args = CommandLine.arguments
        let v = args.firstIndex(of: "--\(name)").flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil } ?? fallback
        return v.split(separator: ",").map(String.init)
    }
    try qualityBench(sets: list("sets", "photos,fashion-mnist"), perClassList: list("per-class", "5,15,50").compactMap { Int($0) },
                     seeds: option("seeds", 5), methods: Set(list("methods", "probe,probe-tta,probe-4views,finetune")))

default:
    FileHandle.standardError.write(Data("unknown mode \(mode)\n".utf8))
    exit(2)
}
