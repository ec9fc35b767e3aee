import Foundation
@testable import VisionEngine
import XCTest

/// Detection on real photos: DeepForest's aerial images cut into 400×400 tiles (built by
/// scripts/datasets-ensure.sh from the deepforest wheel): every fourth tile is held out,
/// the detector trains on the rest with the training job's recipe (measure on a held-out
/// share, fine-tune on all) and is scored on tiles it never saw. Dense ~40 px trees on a
/// 13×13 grid are the hard case; the floor sits below what this seed measured (0.34 in a
/// release build), so a regression in the loss, targets, views or decoding fails it.
final class DetectionAccuracyTests: XCTestCase {
    struct Entry: Decodable { var file: String; var boxes: [[Float]]; var tags: [String] }

    func testDeepForestHeldOutMeanAveragePrecision() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".cache/datasets/deepforest-tiles")
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        func labeled(_ e: Entry) -> [LabeledBox] {
            e.boxes.map { LabeledBox(tag: 0, box: NormalisedBox(left: $0[0], top: $0[1], width: $0[2], height: $0[3])) }
        }
        var train: [Entry] = [], test: [Entry] = []
        for (i, e) in entries.enumerated() where !e.boxes.isEmpty { if i % 4 == 3 { test.append(e) } else { train.append(e) } }
        XCTAssertEqual(train.count + test.count, 36)

        let model = try lite0().with(threads: 2)
        var options = DetectionTrainingOptions()
        options.threads = 2
        let extractor = DetectionExtractor(model: model, cache: InMemoryDetectionFeatureCache())
        let sources = try train.map { FeatureSource.encoded(try Data(contentsOf: dir.appendingPathComponent($0.file)), hash: $0.file) }
        let started = Date()
        XCTAssertEqual(try extractor.extract(sources, views: DetectionView.views(count: options.views)), train.count * options.views)
        let samples = train.map { DetectionSample(hash: $0.file, boxes: labeled($0)) }
        let (head, report) = try DetectionTrainer.train(samples, tagIDs: ["Tree"], extractor: extractor, options: options)
        let seconds = Date().timeIntervalSince(started)

        var images: [DetectionReport.HeldOutImage] = []
        for (i, e) in test.enumerated() {
            let img = try ImageDecoder.rgb8(try Data(contentsOf: dir.appendingPathComponent(e.file)))
            let found = head.detect(try extractor.headInput(rgb: img.pixels, width: img.width, height: img.height, view: .whole))
            XCTAssertLessThanOrEqual(found.count, DetectionGrid.maxDetections)
            images.append(.init(sample: i, truth: labeled(e), detections: found))
        }
        let unseen = DetectionReport(tagIDs: ["Tree"], images: images).summary(threshold: 0.5, overlap: 0.5)
        let heldOut = report.summary(threshold: 0.5, overlap: 0.5)
        print("DeepForest: \(train.count) training tiles, \(test.count) unseen; mAP@0.5 unseen \(unseen.meanAveragePrecision), "
              + "held out during training \(heldOut.meanAveragePrecision) on \(report.images.count) tiles; \(Int(seconds)) s")
        XCTAssertGreaterThan(unseen.meanAveragePrecision, 0.25)
        XCTAssertGreaterThan(heldOut.meanAveragePrecision, 0.2)
        XCTAssertGreaterThan(report.images.count, 2)
    }
}
