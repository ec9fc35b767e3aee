import Foundation
@testable import VisionEngine
import XCTest

/// Advanced training's fine-tuning: the tail it trains goes back into the network that
/// predicts and exports, and training lowers the loss it optimises.
final class FineTuneTests: XCTestCase {
    func assertNear(_ a: [Float], _ b: [Float], _ tol: Float, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        XCTAssertLessThan(zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0, tol, file: file, line: line)
    }

    /// Fashion-MNIST, `perClass` images of the first `classes` classes, as last-stage maps of `views`.
    func samples(_ model: EfficientNetLite, classes: Int, perClass: Int, views: Int) throws -> [FineTuneSample] {
        let images = try FashionMNIST(split: "train").take(perClass: perClass).filter { $0.label < classes }
        return try images.map { x in
            let outputs = try AugmentationView.views(count: views).map { v -> BackboneOutput in
                let input = try Preprocessor.input(rgb: x.pixels.flatMap { [$0, $0, $0] }, width: 28, height: 28, size: 224, view: v)
                return model.forward(Tensor(n: 1, h: 224, w: 224, c: 3, data: input), maps: [.lastStageInput])
            }
            return FineTuneSample(outputs: outputs, tags: [x.label])
        }
    }

    func testAnUntrainedTailPutBackComputesTheSameFeatures() throws {
        let model = try lite0()
        let input = try floats(sharedReference.appendingPathComponent("golden/efficientnet-lite0.golden_input.f32"))
        let x = Tensor(n: 1, h: 224, w: 224, c: 3, data: input)
        let same = try model.withTail(model.trainableTail())
        assertNear(same.features(x), model.features(x), 1e-5)
    }

    func testTrainingLowersTheLossAndTheShippedNetworkIsTheTrainedOne() throws {
        let model = try lite0()
        let data = try samples(model, classes: 3, perClass: 6, views: 2)
        let tags = ["a", "b", "c"]
        let pooled = data.map { $0.probeSample(views: 2) }
        var options = FineTuneOptions()
        options.tailRate = 3e-4
        let probe = try Trainer.fit(pooled, tagIDs: tags, kind: .multiclass, backbone: model.variant.rawValue, inputSize: 224, options: options.probe)
        let targets = ClassifierFineTuner.Targets(data, tags: 3, kind: .multiclass)
        let rows = Array(data.indices)
        let before = ClassifierFineTuner.Network(model: model, head: probe, threads: 1)
        // The network starts out as the probe: same scores as the head on the plain features.
        let startScores = before.forward(ClassifierFineTuner.stack([data[0].maps[0]])).data
        var expected = pooled[0].views[0]
        probe.standardise(&expected)
        assertNear(startScores, ClassifierHead.scores(expected, n: 1, d: probe.dimension, weights: probe.weights, bias: probe.bias, tags: 3), 1e-3)
        let lossBefore = ClassifierFineTuner.evaluate(before, data, rows, targets: targets, tags: 3, kind: .multiclass, batch: 8).loss
        let (net, report) = try ClassifierFineTuner.run(data, rows: rows, heldOut: [], model: model, head: probe, epochs: 4,
                                                        options: options) { _ in true }
        XCTAssertEqual(report.epochs, 4)
        let lossAfter = ClassifierFineTuner.evaluate(net, data, rows, targets: targets, tags: 3, kind: .multiclass, batch: 8).loss
        XCTAssertLessThan(lossAfter, lossBefore * 0.9, "training loss \(lossBefore) → \(lossAfter)")

        // The trained tail inside the whole network gives what the trained tail gave.
        let tuned = try model.withTail(net.tail)
        let input = try Preprocessor.input(rgb: [UInt8](repeating: 90, count: 28 * 28 * 3), width: 28, height: 28, size: 224)
        let x = Tensor(n: 1, h: 224, w: 224, c: 3, data: input)
        let map = model.forward(x, maps: [.lastStageInput]).map(.lastStageInput)!
        assertNear(tuned.features(x), net.tail.forward(map).data, 1e-4)
        XCTAssertGreaterThan(zip(tuned.features(x), model.features(x)).map { abs($0 - $1) }.max()!, 1e-3, "the tail did not change")
    }

    func testEarlyStoppingNeverShipsWorseThanTheProbeOnItsHeldOutFold() throws {
        let model = try lite0()
        let data = try samples(model, classes: 3, perClass: 5, views: 2)
        var options = FineTuneOptions()
        options.earlyStopping = true
        options.epochs = 3
        options.patience = 1
        var fractions: [Double] = []
        let result = try ClassifierFineTuner.train(data, tagIDs: ["a", "b", "c"], kind: .multiclass, model: model, options: options) {
            fractions.append($0); return true
        }
        let r = result.report
        XCTAssertEqual(r.heldOutImages, 3)
        XCTAssertTrue((0...3).contains(r.epochs) && r.epochsRun <= 3 && r.epochs <= r.epochsRun, "\(r)")
        XCTAssertEqual(result.head.tail != nil, r.epochs > 0, "a tail ships exactly when an epoch beat the probe")
        XCTAssertEqual(fractions.last, 1)
        XCTAssertEqual(fractions, fractions.sorted(), "progress only moves forward")
        XCTAssertThrowsError(try ClassifierFineTuner.train(data, tagIDs: ["a", "b", "c"], kind: .multiclass, model: model, options: options) { _ in false }) {
            XCTAssertEqual($0 as? FineTuneError, .cancelled)
        }
    }

    /// The fixed schedule ships only what its held-out fold finds no less accurate than the
    /// probe: a schedule whose rates wreck the network is refused, and the probe ships.
    func testTheFixedScheduleShipsOnlyWhatTheHeldOutFoldAccepts() throws {
        let model = try lite0()
        let data = try samples(model, classes: 3, perClass: 5, views: 2)
        var options = FineTuneOptions()
        options.epochs = 2
        let kept = try ClassifierFineTuner.train(data, tagIDs: ["a", "b", "c"], kind: .multiclass, model: model, options: options)
        XCTAssertEqual(kept.report.epochsRun, 2)
        XCTAssertEqual(kept.report.epochs == 2, kept.report.bestHeldOutAccuracy >= kept.report.probeHeldOutAccuracy,
                       "it ships exactly when the fold finds it no less accurate: \(kept.report)")
        XCTAssertEqual(kept.report.epochs == 0, kept.report.bestHeldOutAccuracy < kept.report.probeHeldOutAccuracy)
        XCTAssertEqual(kept.head.tail != nil, kept.report.epochs > 0)

        options.tailRate = 5
        options.headRate = 5
        let wrecked = try ClassifierFineTuner.train(data, tagIDs: ["a", "b", "c"], kind: .multiclass, model: model, options: options)
        XCTAssertEqual(wrecked.report.epochs, 0, "\(wrecked.report)")
        XCTAssertLessThan(wrecked.report.bestHeldOutAccuracy, wrecked.report.probeHeldOutAccuracy)
        XCTAssertNil(wrecked.report.refitDiverged, "refused by the fold, not by the refit's divergence check")
        XCTAssertNil(wrecked.head.tail, "the probe ships")

        // Options out of range are refused, not trained with.
        for bad in [{ (o: inout FineTuneOptions) in o.mix = 1.5 }, { $0.epochs = 0 }, { $0.batchSize = 0 },
                    { $0.heldOutShare = 1 }, { $0.smoothing = .nan }] {
            var o = FineTuneOptions()
            bad(&o)
            XCTAssertThrowsError(try ClassifierFineTuner.train(data, tagIDs: ["a", "b", "c"], kind: .multiclass, model: model, options: o)) {
                guard case FineTuneError.invalidOption = $0 else { return XCTFail("\($0)") }
            }
        }
    }

    /// Mixup's draws come from Beta(α, α), and the soft targets it (and label smoothing)
    /// makes have the loss gradient that finite differences give.
    func testMixupDrawsAndSoftTargetsAreSound() {
        var rng = SplitMix64(seed: 3)
        let draws = (0..<4000).map { _ in ClassifierFineTuner.betaSample(0.4, using: &rng) }
        XCTAssert(draws.allSatisfy { (0...1).contains($0) })
        let mean = draws.reduce(0, +) / Double(draws.count)
        let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count)
        XCTAssertEqual(mean, 0.5, accuracy: 0.03)
        XCTAssertEqual(variance, 1 / (4 * (2 * 0.4 + 1)), accuracy: 0.015, "Beta(a, a) has variance 1 / (4 (2a + 1))")

        let a = ClassifierFineTuner.RowTarget(y: [1, 0, 0], w: [2, 2, 2]), b = ClassifierFineTuner.RowTarget(y: [0, 1, 0], w: [1, 1, 1])
        let mixed = a.blended(with: b, share: 0.7).smoothed(0.1)
        XCTAssertEqual(mixed.y.reduce(0, +), 1, accuracy: 1e-6)
        for kind in [ClassifierHead.Kind.multiclass, .multilabel] {
            let scores: [Float] = [0.2, -0.1, 0.5]
            let (_, g) = ClassifierFineTuner.loss(scores, targets: [mixed], tags: 3, kind: kind)
            for t in 0..<3 {
                var up = scores, down = scores
                up[t] += 1e-2; down[t] -= 1e-2
                let numeric = (ClassifierFineTuner.loss(up, targets: [mixed], tags: 3, kind: kind).0
                               - ClassifierFineTuner.loss(down, targets: [mixed], tags: 3, kind: kind).0) / 2e-2
                XCTAssertEqual(Double(g[t]), numeric, accuracy: 2e-3, "\(kind) tag \(t)")
            }
        }
    }

    func testAHostileOrMismatchedTailIsACorruptModelNotACrash() throws {
        func file(_ json: String, payload: Int = 0) -> Data {
            var d = Data("SLHEAD1\n".utf8)
            var n = UInt32(json.utf8.count).littleEndian
            d.append(Data(bytes: &n, count: 4))
            d.append(Data(json.utf8))
            d.append(Data(count: payload))
            return d
        }
        // Sizes that only add up with a negative dimension.
        let hostile = file(#"{"kind":"multiclass","backbone":"b","inputSize":224,"tagIDs":[],"l2":0.3,"preprocessing":"x","dimension":-1,"tailSizes":[2]}"#)
        XCTAssertThrowsError(try ClassifierHead.deserialise(hostile))
        let huge = file(#"{"kind":"multiclass","backbone":"b","inputSize":224,"tagIDs":["a"],"l2":0.3,"preprocessing":"x","dimension":1,"tailSizes":[9223372036854775807]}"#)
        XCTAssertThrowsError(try ClassifierHead.deserialise(huge))
        // A well-formed file whose tail is not this backbone's.
        var head = ClassifierHead(kind: .multiclass, backbone: "efficientnet-lite0", inputSize: 224, tagIDs: ["a", "b"],
                                  featureMean: [0, 0], featureScale: [1, 1], weights: [1, 0, 0, 1], bias: [0, 0], l2: 0.3)
        head.tail = [[1, 2, 3], [4]]
        let back = try ClassifierHead.deserialise(try head.serialised())
        XCTAssertEqual(back.tail, head.tail)
        XCTAssertThrowsError(try lite0().tuned(for: back)) { XCTAssertEqual($0 as? HeadError, .corruptModel("the fine-tuned tail does not match the backbone")) }
        head.tail = try lite0().trainableTail().parameters.map { p in p.value.map { _ in Float.nan } }
        XCTAssertThrowsError(try lite0().tuned(for: head), "non-finite weights are refused")
    }
}
