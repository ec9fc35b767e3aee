@testable import App
import Foundation
import VisionEngine
import XCTVapor

/// Published classifiers predict on the framing their training used: heads written since
/// the whole-image framing on the whole image, older heads on the centre crop they were
/// trained on.
final class PredictorFramingTests: XCTestCase {
    func testPredictorFramesEachHeadAsItWasTrained() async throws {
        let app = try await makeApp()
        let d = EfficientNetLite.featureSize
        var rng = SplitMix64(seed: 11)
        let weights = (0..<(3 * d)).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) - 0.5) }
        let head = { (framing: Framing) in
            ClassifierHead(kind: .multiclass, backbone: EfficientNetLite.Variant.lite0.rawValue, inputSize: EfficientNetLite.Variant.lite0.inputSize,
                           tagIDs: ["a", "b", "c"], featureMean: [Float](repeating: 0, count: d),
                           featureScale: [Float](repeating: 1, count: d), weights: weights, bias: [0, 0, 0], l2: 1, framing: framing)
        }
        // A wide photo: its centre square leaves out a third of it.
        let image = try ImageDecoder.jpegVariant(try imageFixture("landscape.png"), maxSide: 300, quality: 90).jpeg
        let model = try app.engine.backbone(.lite0)
        let size = model.variant.inputSize
        func expected(_ h: ClassifierHead) throws -> [String: Float] {
            let x = try Preprocessor.input(encoded: image, size: size, view: .plain(h.framing))
            return Dictionary(uniqueKeysWithValues: zip(h.tagIDs, h.probabilities(model.features(Tensor(n: 1, h: size, w: size, c: 3, data: x)))))
        }
        var served: [Framing: [String: Float]] = [:]
        for framing in [Framing.whole, .centreCrop] {
            let it = Iteration()
            it.id = UUID()
            it.modelHash = try await app.blobStore.put(try head(framing).serialised())
            let got = try await app.predictor.classify(image, iteration: it, account: UUID(), app: app)
            served[framing] = Dictionary(uniqueKeysWithValues: got.map { ($0.tagID, $0.probability) })
            let want = try expected(head(framing))
            for tag in ["a", "b", "c"] { XCTAssertEqual(served[framing]![tag]!, want[tag]!, accuracy: 1e-6, "\(framing) \(tag)") }
        }
        let apart = ["a", "b", "c"].map { abs(served[.whole]![$0]! - served[.centreCrop]![$0]!) }.max()!
        XCTAssertGreaterThan(apart, 1e-3, "the two framings see different pixels")
        try await app.asyncShutdown()
    }
}
