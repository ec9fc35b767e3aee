import Foundation
@testable import VisionEngine
import XCTest

let sharedReference = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/reference/efficientnet-lite")
let weightsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".cache/weights")

func floats(_ url: URL) throws -> [Float] {
    let d = try Data(contentsOf: url)
    return d.withUnsafeBytes { raw in (0..<d.count / 4).map { raw.load(fromByteOffset: $0 * 4, as: Float.self) } }
}

/// EfficientNet-Lite0, loaded once for all the engine tests.
nonisolated(unsafe) private var loadedLite0: EfficientNetLite?
func lite0() throws -> EfficientNetLite {
    if let m = loadedLite0 { return m }
    let m = try EfficientNetLite.load(variant: .lite0, path: weightsDir.appendingPathComponent("efficientnet-lite0.pth").path)
    loadedLite0 = m
    return m
}

/// The golden vectors: the engine against the NumPy reference's features and logits.
final class EfficientNetLiteGoldenTests: XCTestCase {

    func testGoldenFeaturesAndLogits() throws {
        let model = try lite0()
        XCTAssertEqual(model.blockCount, 16)
        let input = try floats(sharedReference.appendingPathComponent("golden/efficientnet-lite0.golden_input.f32"))
        let goldenFeatures = try floats(sharedReference.appendingPathComponent("golden/efficientnet-lite0.golden_features.f32"))
        let goldenLogits = try floats(sharedReference.appendingPathComponent("golden/efficientnet-lite0.golden_logits.f32"))
        XCTAssertEqual(input.count, 224 * 224 * 3)
        let features = model.features(Tensor(n: 1, h: 224, w: 224, c: 3, data: input))
        let logits = model.logits(features: features)
        let featureError = relativeError(features, goldenFeatures)
        let logitError = relativeError(logits, goldenLogits)
        let maxAbs = zip(logits, goldenLogits).map { abs($0 - $1) }.max()!
        print("golden: features rel error \(featureError), logits rel error \(logitError), max abs logit error \(maxAbs)")
        XCTAssertLessThan(featureError, 1e-4)
        XCTAssertLessThan(logitError, 1e-4)
        XCTAssertEqual(top(logits, 5), [282, 285, 281, 287, 904])
        XCTAssertEqual(top(logits, 5), top(goldenLogits, 5))
    }

    func testBatchedForwardMatchesSingle() throws {
        let model = try lite0()
        let input = try floats(sharedReference.appendingPathComponent("golden/efficientnet-lite0.golden_input.f32"))
        var flipped = [Float](repeating: 0, count: input.count)
        for y in 0..<224 {
            for x in 0..<224 {
                for c in 0..<3 { flipped[(y * 224 + x) * 3 + c] = input[(y * 224 + (223 - x)) * 3 + c] }
            }
        }
        let batch = model.features(Tensor(n: 2, h: 224, w: 224, c: 3, data: input + flipped))
        let one = model.features(Tensor(n: 1, h: 224, w: 224, c: 3, data: flipped))
        XCTAssertLessThan(relativeError(Array(batch[1280...]), one), 1e-5)
    }

    /// ‖a − b‖ / ‖b‖
    func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        var num: Float = 0, den: Float = 0
        for (x, y) in zip(a, b) { num += (x - y) * (x - y); den += y * y }
        return (num / den).squareRoot()
    }

    func top(_ v: [Float], _ k: Int) -> [Int] {
        Array(v.indices.sorted { v[$0] > v[$1] }.prefix(k))
    }
}

final class Lite1AndWeightsTests: XCTestCase {
    /// Lite1 (240×240, 21 blocks) runs; on the golden cat it also sees a cat.
    func testLite1Runs() throws {
        let model = try BackboneWeights.load(.lite1, directory: weightsDir.path)
        XCTAssertEqual(model.blockCount, 21)
        let golden = try floats(sharedReference.appendingPathComponent("golden/efficientnet-lite0.golden_input.f32"))
        let rgb = golden.map { UInt8(max(0, min(255, ($0 * 128 + 127).rounded()))) }
        // The golden input is already the centre crop: resize it whole to 240.
        let view = AugmentationView(index: 0, flip: false, scale: 1, dx: 0, dy: 0)
        let input = try Preprocessor.input(rgb: rgb, width: 224, height: 224, size: 240, view: view)
        let logits = model.logits(features: model.features(Tensor(n: 1, h: 240, w: 240, c: 3, data: input)))
        let top = logits.indices.max { logits[$0] < logits[$1] }!
        XCTAssertTrue((281...287).contains(top), "top-1 \(top) is not a cat")
    }

    func testMissingOrCorruptWeightsNameTheFix() throws {
        let dir = NSTemporaryDirectory() + "weights-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertThrowsError(try BackboneWeights.verified(.lite0, directory: dir)) {
            XCTAssertTrue("\($0)".contains("scripts/weights-ensure.sh"), "\($0)")
        }
        FileManager.default.createFile(atPath: BackboneWeights.path(.lite0, directory: dir), contents: Data("garbage".utf8))
        XCTAssertThrowsError(try BackboneWeights.verified(.lite0, directory: dir)) {
            XCTAssertTrue("\($0)".contains("corrupt") && "\($0)".contains("scripts/weights-ensure.sh"), "\($0)")
        }
    }
}

/// The oneDNN forward pass at other sizes and batches, with feature maps.
final class ForwardPlanTests: XCTestCase {
    func testAnySizeAnyBatchWithFeatureMaps() throws {
        let model = try lite0()
        let golden = try floats(sharedReference.appendingPathComponent("golden/efficientnet-lite0.golden_input.f32"))
        for size in [240, 320, 416] {
            // The golden image, nearest-neighbour scaled, and its mirror image.
            var a = [Float](repeating: 0, count: size * size * 3), b = a
            for y in 0..<size { for x in 0..<size { for c in 0..<3 {
                let v = golden[((y * 224 / size) * 224 + x * 224 / size) * 3 + c]
                a[(y * size + x) * 3 + c] = v
                b[(y * size + (size - 1 - x)) * 3 + c] = v
            } } }
            let out = model.forward(Tensor(n: 2, h: size, w: size, c: 3, data: a + b), featureMaps: true)
            XCTAssertEqual(out.features.count, 2 * 1280)
            let s8 = (size + 7) / 8, s16 = (size + 15) / 16, s32 = (size + 31) / 32
            let shapes = out.maps.map { [$0.tensor.n, $0.tensor.h, $0.tensor.w, $0.tensor.c] }
            XCTAssertEqual(out.maps.map(\.level), [.stride8, .stride16, .lastStageInput, .stride32, .head])
            XCTAssertEqual(shapes, [[2, s8, s8, 40], [2, s16, s16, 112], [2, s32, s32, 192], [2, s32, s32, 320], [2, s32, s32, 1280]])
            // The pooled features are the head map's mean.
            let head = try XCTUnwrap(out.map(.head))
            let plane = s32 * s32
            for ch in stride(from: 0, to: 1280, by: 97) {
                let mean = (0..<plane).map { head.data[$0 * 1280 + ch] }.reduce(0, +) / Float(plane)
                XCTAssertEqual(out.features[ch], mean, accuracy: 1e-4 * max(1, abs(mean)))
            }
            // Batch of two equals one at a time, with or without maps, with one or two threads.
            let single = model.with(threads: 2).features(Tensor(n: 1, h: size, w: size, c: 3, data: b))
            let err = zip(out.features[1280...], single).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(err, 1e-4, "size \(size)")
            // Still sees the cat.
            let logits = model.logits(features: Array(out.features[..<1280]))
            XCTAssertTrue((281...287).contains(logits.indices.max { logits[$0] < logits[$1] }!), "size \(size)")
        }
    }

    /// Every step of the plan runs on one of oneDNN's optimised implementations, never on
    /// its reference loops (which plain layouts can fall back to, 20× slower).
    func testPlanUsesOptimisedImplementations() throws {
        let model = try lite0()
        let key = ForwardPlan.Key(n: 1, h: 224, w: 224, threads: 1, featureMaps: true)
        let names = model.plans.implementations(key) { ForwardPlan(network: model, key: key) }
        XCTAssertGreaterThan(names.count, 50)
        XCTAssertEqual(names.filter { $0.hasPrefix("ref") }, [], "\(Set(names))")
    }

    /// Plans run concurrently from several threads without sharing buffers.
    func testConcurrentForwardPasses() throws {
        let model = try lite0()
        let input = try floats(sharedReference.appendingPathComponent("golden/efficientnet-lite0.golden_input.f32"))
        let expected = model.features(Tensor(n: 1, h: 224, w: 224, c: 3, data: input))
        let results = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            let f = model.features(Tensor(n: 1, h: 224, w: 224, c: 3, data: input))
            results[i] = zip(f, expected).map { abs($0 - $1) }.max()!
        }
        XCTAssertLessThan(results.max()!, 1e-5)
    }
}
