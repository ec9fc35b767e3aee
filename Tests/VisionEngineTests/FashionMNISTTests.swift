import Foundation
@testable import VisionEngine
import XCTest

let fashionDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".cache/datasets/fashion-mnist")

/// Fashion-MNIST as IDX files (extracted by scripts/datasets-ensure.sh).
struct FashionMNIST {
    let images: [[UInt8]]
    let labels: [Int]

    init(split: String) throws {
        let img = [UInt8](try Data(contentsOf: fashionDir.appendingPathComponent("\(split)-images-idx3-ubyte")))
        let lab = [UInt8](try Data(contentsOf: fashionDir.appendingPathComponent("\(split)-labels-idx1-ubyte")))
        func be32(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]) }
        let n = be32(img, 4)
        precondition(be32(img, 0) == 2051 && be32(lab, 0) == 2049 && be32(img, 8) == 28 && be32(lab, 4) == n)
        images = (0..<n).map { Array(img[16 + $0 * 784..<16 + ($0 + 1) * 784]) }
        labels = lab[8...].map(Int.init)
    }

    /// The first `perClass` images of each class, in file order.
    func take(perClass: Int) -> [(pixels: [UInt8], label: Int)] {
        var count = [Int](repeating: 0, count: 10)
        var out: [([UInt8], Int)] = []
        for (i, l) in labels.enumerated() where count[l] < perClass {
            count[l] += 1
            out.append((images[i], l))
        }
        return out
    }
}

func source(_ gray: [UInt8], id: String) -> FeatureSource {
    FeatureSource(hash: id) { (gray.flatMap { [$0, $0, $0] }, 28, 28) }
}

final class FashionMNISTTests: XCTestCase {
    /// 50 training images per class, 100 held-out per class: the transfer-learned head
    /// must reach 84 % and its cross-validated precision/recall must predict the held-out ones.
    func testFewShotAccuracyAndHonestCrossValidation() throws {
        let model = try EfficientNetLite.load(variant: .lite0, path: weightsDir.appendingPathComponent("efficientnet-lite0.pth").path)
        let train = try FashionMNIST(split: "train").take(perClass: 50)
        let test = try FashionMNIST(split: "t10k").take(perClass: 100)
        let cache = InMemoryFeatureCache()
        let extractor = FeatureExtractor(model: model, cache: cache)
        var start = Date()
        let views = AugmentationView.views(count: 2)
        let trainFeatures = try extractor.features(train.enumerated().map { source($1.pixels, id: "train\($0)") }, views: views)
        let testFeatures = try extractor.features(test.enumerated().map { source($1.pixels, id: "test\($0)") }, views: [.identity])
        let featureSeconds = Date().timeIntervalSince(start)
        XCTAssertEqual(trainFeatures.computed, 1000)
        XCTAssertEqual(testFeatures.computed, 1000)

        let tagIDs = (0..<10).map { "class\($0)" }
        let samples = zip(trainFeatures.features, train).map { TrainingSample(views: $0, tags: [$1.label]) }
        start = Date()
        let (head, report) = try Trainer.train(samples, tagIDs: tagIDs, kind: .multiclass, backbone: model.variant.rawValue, inputSize: 224)
        let trainSeconds = Date().timeIntervalSince(start)
        let probs = head.probabilities(testFeatures.features.flatMap { $0[0] })
        var correct = 0
        var heldOut: [[ScoredExample]] = Array(repeating: [], count: 10)
        for (i, t) in test.enumerated() {
            let row = Array(probs[i * 10..<(i + 1) * 10])
            if row.indices.max(by: { row[$0] < row[$1] }) == t.label { correct += 1 }
            for c in 0..<10 { heldOut[c].append(ScoredExample(score: row[c], positive: t.label == c, fold: 0)) }
        }
        let accuracy = Double(correct) / Double(test.count)
        let cv = report.summary(threshold: 0.5)
        let truth = PerformanceReport(tagIDs: tagIDs, scored: heldOut, folds: 1).summary(threshold: 0.5)
        print(String(format: "fashion-mnist: accuracy %.3f; CV precision %.3f recall %.3f mAP %.3f (%d folds); held-out precision %.3f recall %.3f mAP %.3f; features %.1f s for 2000 forwards, training+CV %.1f s",
                     accuracy, cv.precision, cv.recall, cv.averagePrecision, report.folds, truth.precision, truth.recall, truth.averagePrecision,
                     featureSeconds, trainSeconds))
        XCTAssertGreaterThanOrEqual(accuracy, 0.84)
        XCTAssertLessThanOrEqual(abs(cv.precision - truth.precision), 0.05)
        XCTAssertLessThanOrEqual(abs(cv.recall - truth.recall), 0.05)

        // Serialisation round trip predicts identically.
        let restored = try ClassifierHead.deserialise(try head.serialised())
        XCTAssertEqual(restored, head)
        XCTAssertEqual(restored.probabilities(testFeatures.features[0][0]), head.probabilities(testFeatures.features[0][0]))
    }
}
