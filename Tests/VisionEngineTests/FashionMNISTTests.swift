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

/// Features for 55 training and 100 held-out images per class, computed once for the
/// tests below (2,100 forward passes).
final class FashionFixture: @unchecked Sendable {
    static let shared = try! FashionFixture()
    let model: EfficientNetLite
    let cache = InMemoryFeatureCache()
    let train: [(pixels: [UInt8], label: Int)]
    let extra: [(pixels: [UInt8], label: Int)]
    let test: [(pixels: [UInt8], label: Int)]
    let trainFeatures: [[[Float]]]
    let testFeatures: [[[Float]]]
    let featureSeconds: Double
    let computed: Int
    static let views = AugmentationView.views(count: 2)
    let tagIDs = (0..<10).map { "class\($0)" }

    init() throws {
        model = try lite0()
        let all = try FashionMNIST(split: "train").take(perClass: 55)
        var seen = [Int](repeating: 0, count: 10)
        var t: [(pixels: [UInt8], label: Int)] = [], e: [(pixels: [UInt8], label: Int)] = []
        for x in all { seen[x.label] += 1; if seen[x.label] <= 50 { t.append(x) } else { e.append(x) } }
        train = t
        extra = Array(e.prefix(5))
        test = try FashionMNIST(split: "t10k").take(perClass: 100)
        let extractor = FeatureExtractor(model: model, cache: cache)
        let start = Date()
        let tr = try extractor.features(train.enumerated().map { source($1.pixels, id: "train\($0)") }, views: Self.views)
        let te = try extractor.features(test.enumerated().map { source($1.pixels, id: "test\($0)") }, views: [.identity])
        featureSeconds = Date().timeIntervalSince(start)
        trainFeatures = tr.features
        testFeatures = te.features
        computed = tr.computed + te.computed
    }

    var samples: [TrainingSample] { zip(trainFeatures, train).map { TrainingSample(views: $0, tags: [$1.label]) } }
}

final class FashionMNISTTests: XCTestCase {
    /// 50 training images per class, 100 held-out per class: the transfer-learned head
    /// must reach 84 % and its cross-validated precision/recall must predict the held-out ones.
    func testFewShotAccuracyAndHonestCrossValidation() throws {
        let f = FashionFixture.shared
        XCTAssertEqual(f.computed, 2000)
        let start = Date()
        let (head, report) = try Trainer.train(f.samples, tagIDs: f.tagIDs, kind: .multiclass, backbone: f.model.variant.rawValue, inputSize: 224)
        let trainSeconds = Date().timeIntervalSince(start)
        let probs = head.probabilities(f.testFeatures.flatMap { $0[0] })
        var correct = 0
        var heldOut: [[ScoredExample]] = Array(repeating: [], count: 10)
        for (i, t) in f.test.enumerated() {
            let row = Array(probs[i * 10..<(i + 1) * 10])
            if row.indices.max(by: { row[$0] < row[$1] }) == t.label { correct += 1 }
            for c in 0..<10 { heldOut[c].append(ScoredExample(score: row[c], positive: t.label == c, fold: 0)) }
        }
        let accuracy = Double(correct) / Double(f.test.count)
        let cv = report.summary(threshold: 0.5)
        let truth = PerformanceReport(tagIDs: f.tagIDs, scored: heldOut, folds: 1).summary(threshold: 0.5)
        print(String(format: "fashion-mnist: accuracy %.3f; CV precision %.3f recall %.3f mAP %.3f (%d folds); held-out precision %.3f recall %.3f mAP %.3f; features %.1f s for 2000 forwards, training+CV %.1f s",
                     accuracy, cv.precision, cv.recall, cv.averagePrecision, report.folds, truth.precision, truth.recall, truth.averagePrecision,
                     f.featureSeconds, trainSeconds))
        XCTAssertGreaterThanOrEqual(accuracy, 0.84)
        XCTAssertLessThanOrEqual(abs(cv.precision - truth.precision), 0.05)
        XCTAssertLessThanOrEqual(abs(cv.recall - truth.recall), 0.05)
        XCTAssertLessThanOrEqual(abs(cv.averagePrecision - truth.averagePrecision), 0.05)
        XCTAssertGreaterThan(cv.precisionStdDeviation, 0)

        // Serialisation round trip predicts identically.
        let restored = try ClassifierHead.deserialise(try head.serialised())
        XCTAssertEqual(restored, head)
        XCTAssertEqual(restored.probabilities(f.testFeatures[0][0]), head.probabilities(f.testFeatures[0][0]))
        XCTAssertThrowsError(try ClassifierHead.deserialise(try head.serialised().dropLast(4)))
    }

    /// Adding 5 images to the 500-image set computes only their features, then retrains.
    func testRetrainAfterFiveImagesComputesOnlyThose() throws {
        let f = FashionFixture.shared
        let extractor = FeatureExtractor(model: f.model, cache: f.cache)
        let start = Date()
        let all = f.train + f.extra
        let result = try extractor.features(all.enumerated().map { i, x in
            source(x.pixels, id: i < f.train.count ? "train\(i)" : "extra\(i)")
        }, views: FashionFixture.views)
        XCTAssertEqual(result.computed, 5 * FashionFixture.views.count, "only the new images' features are computed")
        let samples = zip(result.features, all).map { TrainingSample(views: $0, tags: [$1.label]) }
        let head = try Trainer.fit(samples, tagIDs: f.tagIDs, kind: .multiclass, backbone: "efficientnet-lite0", inputSize: 224)
        print(String(format: "retrain after 5 new images: %.2f s (debug build; the benchmark measures release)", Date().timeIntervalSince(start)))
        XCTAssertEqual(head.tagIDs.count, 10)
    }

    func testDeterministicGivenASeed() throws {
        let f = FashionFixture.shared
        let small = Array(f.samples.prefix(200))
        let a = try Trainer.train(small, tagIDs: f.tagIDs, kind: .multiclass, backbone: "b", inputSize: 224)
        let b = try Trainer.train(small, tagIDs: f.tagIDs, kind: .multiclass, backbone: "b", inputSize: 224)
        XCTAssertEqual(a.head, b.head)
        XCTAssertEqual(a.performance.scored, b.performance.scored)
    }

    /// Multilabel with a Negative tag: images tagged only Negative teach "none of the tags".
    func testMultilabelAndNegativeTag() throws {
        let f = FashionFixture.shared
        // Tags: 0 "top-like" (classes 0,2,4,6), 1 "footwear" (5,7,9), 2 Negative (trousers, 1).
        func tags(_ label: Int) -> [Int]? {
            if [0, 2, 4, 6].contains(label) { return [0] }
            if [5, 7, 9].contains(label) { return [1] }
            if label == 1 { return [2] }
            return nil
        }
        let samples = zip(f.trainFeatures, f.train).compactMap { feats, x in tags(x.label).map { TrainingSample(views: feats, tags: $0) } }
        let (head, report) = try Trainer.train(samples, tagIDs: ["top", "footwear", "Negative"], kind: .multilabel, backbone: "b", inputSize: 224)
        let probs = head.probabilities(f.testFeatures.flatMap { $0[0] })
        var negativeOK = 0, negatives = 0, footwearOK = 0, footwear = 0
        for (i, t) in f.test.enumerated() {
            let p = Array(probs[i * 3..<(i + 1) * 3])
            if t.label == 1 { negatives += 1; if p[0] < 0.5 && p[1] < 0.5 { negativeOK += 1 } }
            if [5, 7, 9].contains(t.label) { footwear += 1; if p[1] >= 0.5 && p[0] < 0.5 { footwearOK += 1 } }
        }
        XCTAssertGreaterThan(Double(negativeOK) / Double(negatives), 0.9, "trousers get none of the regular tags")
        XCTAssertGreaterThan(Double(footwearOK) / Double(footwear), 0.9)
        XCTAssertGreaterThan(report.summary().averagePrecision, 0.9)
        // Any threshold can be shown exactly from the kept curve.
        let curve = report.curve(tag: 1)
        let at = report.summary(threshold: curve[curve.count / 2].threshold).perTag[1]
        XCTAssertEqual(at.precision, curve[curve.count / 2].precision, accuracy: 1e-12)
        XCTAssertEqual(at.recall, curve[curve.count / 2].recall, accuracy: 1e-12)
    }

    func testClearErrorsForBadTrainingData() throws {
        let f = FashionFixture.shared
        let some = Array(f.samples.prefix(30))
        XCTAssertThrowsError(try Trainer.fit([], tagIDs: ["a", "b"], kind: .multiclass, backbone: "b", inputSize: 224)) {
            XCTAssertEqual($0 as? HeadError, .noImages)
        }
        let twoTags = some.map { TrainingSample(views: $0.views, tags: [$0.tags[0] % 2]) }
        XCTAssertThrowsError(try Trainer.fit(twoTags, tagIDs: ["a", "b", "empty"], kind: .multiclass, backbone: "b", inputSize: 224)) {
            XCTAssertEqual($0 as? HeadError, .emptyTag("empty"))
        }
        let one = some.map { TrainingSample(views: $0.views, tags: [0]) }
        XCTAssertThrowsError(try Trainer.fit(one, tagIDs: ["only"], kind: .multiclass, backbone: "b", inputSize: 224)) {
            XCTAssertEqual($0 as? HeadError, .tooFewTags(1))
        }
        var nan = twoTags
        nan[3].views[0][17] = .nan
        XCTAssertThrowsError(try Trainer.fit(nan, tagIDs: ["a", "b"], kind: .multiclass, backbone: "b", inputSize: 224)) {
            guard case .invalidFeatures? = $0 as? HeadError else { return XCTFail("\($0)") }
        }
        var short = twoTags
        short[0].views[0] = [1, 2, 3]
        XCTAssertThrowsError(try Trainer.fit(short, tagIDs: ["a", "b"], kind: .multiclass, backbone: "b", inputSize: 224))
    }
}
