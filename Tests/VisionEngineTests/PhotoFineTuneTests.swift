import Foundation
@testable import VisionEngine
import XCTest

/// Advanced training on real photographs (Tests/Fixtures/make_photo_set.py): fine-tuning
/// holds its own against the linear probe Quick training ships, and keeps to its budget.
final class PhotoFineTuneTests: XCTestCase {
    struct Photo { var rgb: [UInt8]; var width: Int; var height: Int; var label: Int; var group: String }

    static let photos: [Photo]? = {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".cache/datasets/photos")
        struct Entry: Decodable { var file: String; var label: String; var group: String }
        guard let data = try? Data(contentsOf: dir.appendingPathComponent("manifest.json")),
              let entries = try? JSONDecoder().decode([Entry].self, from: data) else { return nil }
        let labels = Array(Set(entries.map(\.label))).sorted()
        return try? entries.map { e in
            let img = try ImageDecoder.rgb8(Data(contentsOf: dir.appendingPathComponent(e.file)))
            return Photo(rgb: img.pixels, width: img.width, height: img.height, label: labels.firstIndex(of: e.label)!, group: e.group)
        }
    }()

    /// Per class: whole photos (groups) in seeded order give `perClass` training crops; test
    /// crops come only from photos never trained on.
    func split(_ photos: [Photo], perClass: Int, testPerClass: Int, seed: UInt64) -> (train: [Int], test: [Int]) {
        var rng = SplitMix64(seed: seed)
        var train: [Int] = [], test: [Int] = []
        for c in Set(photos.map(\.label)).sorted() {
            var groups: [String: [Int]] = [:]
            for (i, p) in photos.enumerated() where p.label == c { groups[p.group, default: []].append(i) }
            var order = groups.keys.sorted()
            order.shuffle(using: &rng)
            var taken: [Int] = [], rest: [Int] = []
            for g in order {
                if taken.count < perClass { taken += groups[g]!.prefix(perClass - taken.count) } else { rest += groups[g]! }
            }
            train += taken
            test += rest.prefix(testPerClass)
        }
        return (train, test)
    }

    func testAdvancedIsAtLeastQuickOnHeldOutPhotosAndKeepsItsBudget() throws {
        let photos = try XCTUnwrap(Self.photos, "run scripts/datasets-ensure.sh: the photo set is missing")
        let model = try lite0()
        let classes = Set(photos.map(\.label)).count
        let tags = (0..<classes).map { "c\($0)" }
        let (trainIDs, testIDs) = split(photos, perClass: 15, testPerClass: 20, seed: 0xC1A5)
        let views = AugmentationView.views(count: FineTuneOptions().views)
        func run(_ p: Photo, _ v: AugmentationView) throws -> BackboneOutput {
            let x = try Preprocessor.input(rgb: p.rgb, width: p.width, height: p.height, size: 224, view: v)
            return model.forward(Tensor(n: 1, h: 224, w: 224, c: 3, data: x), maps: [.lastStageInput])
        }
        var quickSamples: [TrainingSample] = [], tuneSamples: [FineTuneSample] = []
        for i in trainIDs {
            let outs = try views.map { try run(photos[i], $0) }
            quickSamples.append(TrainingSample(views: outs.prefix(2).map(\.features), tags: [photos[i].label]))
            tuneSamples.append(FineTuneSample(outputs: outs, tags: [photos[i].label]))
        }
        // Quick: the linear probe on the plain view and its mirror.
        let quick = try Trainer.fit(quickSamples, tagIDs: tags, kind: .multiclass, backbone: model.variant.rawValue, inputSize: 224)
        let advanced = try ClassifierFineTuner.train(tuneSamples, tagIDs: tags, kind: .multiclass, model: model)
        let quickRight = try testIDs.filter { i in
            let p = quick.probabilities(try run(photos[i], .identity).features)
            return p.indices.max { p[$0] < p[$1] } == photos[i].label
        }.count
        let quickAccuracy = Double(quickRight) / Double(testIDs.count)
        let right = try testIDs.filter { i in
            let x = try Preprocessor.input(rgb: photos[i].rgb, width: photos[i].width, height: photos[i].height, size: 224)
            let p = advanced.head.probabilities(advanced.model.features(Tensor(n: 1, h: 224, w: 224, c: 3, data: x)))
            return p.indices.max { p[$0] < p[$1] } == photos[i].label
        }.count
        let advancedAccuracy = Double(right) / Double(testIDs.count)
        print(String(format: "photos, 15 per class, %d held-out photos: Quick %.3f, Advanced %.3f (%d epochs)",
                     testIDs.count, quickAccuracy, advancedAccuracy, advanced.report.epochs))
        // One split's noise: a few test images either way (the benchmark measures the gain over 5 splits).
        XCTAssertGreaterThanOrEqual(advancedAccuracy, quickAccuracy - 0.03)

        // A budget used up at once: the epoch search stops after its first epoch.
        var tight = FineTuneOptions()
        tight.timeBudget = 0.001
        tight.epochs = 30
        let short = try ClassifierFineTuner.train(tuneSamples.enumerated().filter { $0.offset % 3 == 0 }.map(\.element), tagIDs: tags, kind: .multiclass, model: model, options: tight)
        XCTAssertEqual(short.report.epochsRun, 1, "\(short.report)")
    }
}
