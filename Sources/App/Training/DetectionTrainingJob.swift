import Fluent
import Foundation
import NIOConcurrencyHelpers
import Vapor
import VisionEngine

/// Trains one object-detection iteration: every image with regions is run through the
/// backbone once per view (cached on disk under DATA_DIR/features/detection, so a retrain
/// computes only new images), then the head is fitted, measured on held-out images and
/// fitted again on all of them. Progress and cancellation cross from the engine thread
/// through a small shared box that a poller mirrors to and from the database.
struct DetectionTrainingJob {
    let app: Application
    let job: Job
    let queue: JobQueue

    var db: Database { app.db }

    static func cacheDirectory(_ app: Application) -> URL {
        cacheDirectory(dataDir: URL(fileURLWithPath: app.settings.dataDir))
    }

    static func cacheDirectory(dataDir: URL) -> URL {
        dataDir.appendingPathComponent("features").appendingPathComponent("detection")
    }

    func run(iteration: Iteration, project: Project) async throws {
        let started = Date()
        // The regions as recorded when training was asked for (within its tag selection).
        let set = try await TrainingSet.load(iteration: iteration, project: project, on: db)
        let tags = set.tags
        let regionsByImage = set.regions
        let regions = set.images.flatMap { regionsByImage[$0.id!] ?? [] }
        let images = set.images.filter { regionsByImage[$0.id!] != nil }
        // The job streams these images' cached views until it ends: the pruner leaves them.
        let leased = images.map(\.originalHash)
        FeatureLeases.shared.hold(leased)
        defer { FeatureLeases.shared.release(leased) }
        let used = tags.filter { t in regions.contains { $0.tagID == t.id! } }
        let index = Dictionary(uniqueKeysWithValues: used.enumerated().map { ($1.id!, $0) })
        let samples = images.map { img in
            DetectionSample(hash: img.originalHash, boxes: regionsByImage[img.id!]!.compactMap { r in
                guard let t = index[r.tagID] else { return nil }
                return NormalisedBox(left: Float(r.left), top: Float(r.top), width: Float(r.width), height: Float(r.height))
                    .clipped.map { LabeledBox(tag: t, box: $0) }
            })
        }
        let tagIDs = used.map { $0.id!.uuidString.lowercased() }
        let options: DetectionTrainingOptions = {
            var o = iteration.trainingType == "Advanced" ? DetectionTrainingOptions.advanced : DetectionTrainingOptions()
            o.threads = app.engine.threadsPerJob
            if let most = app.settings.detectionMaxSamples {
                o.maximumSamples = most
                o.targetSamples = min(o.targetSamples, most)
            }
            return o
        }()
        let views = DetectionView.views(count: options.views)
        let variant = app.domainCatalog.domain(iteration.domainID)?.variant ?? .lite0
        let model = try await app.engine.run { [app] in try app.engine.backbone(variant) }
        // The iteration's domain says the input: 416 for the compact format.
        let inputSize = app.domainCatalog.domain(iteration.domainID)?.inputSize ?? DetectionGrid.inputSize
        let extractor = DetectionExtractor(model: model, cache: try DiskDetectionFeatureCache(directory: Self.cacheDirectory(app)),
                                           inputSize: inputSize)
        let blobs = app.blobStore
        let control = TrainingControl(started: started)
        let iterationID = iteration.id!
        let poller = control.mirror(iteration: iterationID, job: job, queue: queue, db: db)
        defer { poller.cancel() }

        // Backbone passes: 5–40 %.
        let chunk = 4
        control.imagesDone(0)
        for start in stride(from: 0, to: images.count, by: chunk) {
            if control.cancelled { throw TrainingJob.Cancelled() }
            let part = Array(images[start..<min(start + chunk, images.count)])
            let sources = part.map { img in FeatureSource(hash: img.originalHash) {
                // Large photos are scaled down first: views only need so many pixels.
                let decoded = try ImageDecoder.rgb8(try blobs.readBlocking(img.originalHash),
                                                    shorterSideAtMost: DetectionView.sourceSide(inputSize: inputSize))
                return (decoded.pixels, decoded.width, decoded.height)
            } }
            _ = try await app.engine.run { try extractor.extract(sources, views: views) { control.cancelled } }
            control.imagesDone(min(images.count, start + chunk))
            control.progress = 5 + 35 * min(images.count, start + chunk) / max(images.count, 1)
        }
        if control.cancelled { throw TrainingJob.Cancelled() }

        // The head: 40–99 %.
        let trained: (head: DetectorHead, report: DetectionReport)
        do {
            trained = try await app.engine.run {
                try DetectionTrainer.train(samples, tagIDs: tagIDs, extractor: extractor, options: options) { fraction in
                    control.progress = 40 + Int(59 * fraction)
                    return !control.cancelled
                }
            }
        } catch DetectionTrainingError.cancelled {
            throw TrainingJob.Cancelled()
        }
        var report = trained.report
        report.sampleIDs = images.map { $0.id!.uuidString.lowercased() }
        let modelHash = try await blobs.put(try trained.head.serialised())
        let metrics = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        poller.cancel()
        try await Iteration.query(on: db).filter(\.$id == iterationID).filter(\.$status == "Training")
            .set(\.$status, to: "Completed").set(\.$progress, to: 100).set(\.$modelHash, to: modelHash)
            .set(\.$metricsJSON, to: metrics).set(\.$trainedAt, to: Date())
            .set(\.$trainingSeconds, to: Date().timeIntervalSince(started)).update()
    }
}
