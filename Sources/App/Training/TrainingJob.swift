import Fluent
import Foundation
import Vapor
import VisionEngine

/// Trains one iteration: features through the persistent cache (only new images are
/// run through the backbone), a head fitted and cross-validated, the model stored.
struct TrainingJob {
    let app: Application
    let job: Job
    let queue: JobQueue

    struct Cancelled: Error {}

    var db: Database { app.db }

    func run() async throws {
        guard let iteration = try await Iteration.find(job.iterationID, on: db),
              let project = try await Project.find(iteration.projectID, on: db) else { throw Cancelled() }
        if project.projectType == "ObjectDetection" {
            return try await DetectionTrainingJob(app: app, job: job, queue: queue).run(iteration: iteration, project: project)
        }
        let started = Date()
        // What the iteration trains on was recorded when training was asked for (within its tag selection).
        let set = try await TrainingSet.load(iteration: iteration, project: project, on: db)
        let tags = set.tags
        var tagsByImage: [UUID: Set<UUID>] = [:]
        for (image, links) in set.links { tagsByImage[image] = Set(links.map(\.tagID)) }
        let images = set.images.filter { !(tagsByImage[$0.id!] ?? []).isEmpty }
        let used = tags.filter { t in images.contains { tagsByImage[$0.id!]!.contains(t.id!) } }
        let index = Dictionary(uniqueKeysWithValues: used.enumerated().map { ($1.id!, $0) })

        let advanced = iteration.trainingType == "Advanced"
        // The image and its mirror for both: a 4-view probe lost 1.7 points to it on
        // Fashion-MNIST at 15 per class (Benchmarks/classification-quality.md), and the
        // fine-tune starts from the 2-view probe.
        let views = AugmentationView.views(count: 2)
        // The iteration's domain says the backbone (General [A1]: Lite1 at 240).
        let variant = app.domainCatalog.domain(iteration.domainID)?.variant ?? .lite0
        let model = try await app.engine.run { [app] in try app.engine.backbone(variant) }
        let store = FeatureStore(db: db)
        let session = try await store.session(hashes: images.map(\.originalHash), backbone: model.variant.rawValue)
        let extractor = FeatureExtractor(model: model, cache: session)
        let blobs = app.blobStore
        var features: [[[Float]]] = []
        let chunk = 16
        // Cancellation and progress are checked at most twice a second: a retrain whose
        // features are all cached would otherwise spend its time on these queries.
        var lastReport = Date.distantPast
        var pace = TrainingPace(started: started)
        pace.imagesDone(0)
        for startIndex in stride(from: 0, to: images.count, by: chunk) {
            let report = Date().timeIntervalSince(lastReport) >= 0.5
            if report, try await queue.isCancelled(job) { throw Cancelled() }
            let part = Array(images[startIndex..<min(startIndex + chunk, images.count)])
            let sources = part.map { img in FeatureSource(hash: img.originalHash) {
                let decoded = try ImageDecoder.rgb8(try blobs.readBlocking(img.originalHash))
                return (decoded.pixels, decoded.width, decoded.height)
            } }
            features += try await app.engine.run { try extractor.features(sources, views: views).features }
            try await store.save(session)
            pace.imagesDone(min(images.count, startIndex + chunk))
            if report {
                lastReport = Date()
                let progress = 5 + 80 * min(images.count, startIndex + chunk) / max(images.count, 1)
                try await Iteration.query(on: db).filter(\.$id == iteration.id!).set(\.$progress, to: progress)
                    .set(\.$imagesPerSecond, to: pace.imagesPerSecond()).set(\.$estimatedEnd, to: pace.estimatedEnd(progress: progress)).update()
            }
        }
        if try await queue.isCancelled(job) { throw Cancelled() }

        let samples = zip(images, features).map { img, f in
            TrainingSample(views: f, tags: tagsByImage[img.id!]!.compactMap { index[$0] }.sorted())
        }
        let tagIDs = used.map { $0.id!.uuidString.lowercased() }
        let kind: ClassifierHead.Kind = project.classificationType == "Multiclass" ? .multiclass : .multilabel
        let size = model.variant.inputSize, backbone = model.variant.rawValue
        let (head, report) = try await app.engine.run { () throws -> (ClassifierHead, PerformanceReport) in
            var quick = TrainingOptions()
            quick.framing = views[0].framing
            if !advanced { return try Trainer.train(samples, tagIDs: tagIDs, kind: kind, backbone: backbone, inputSize: size, options: quick) }
            // Advanced: also search the L2 penalty, keeping the best cross-validated mAP.
            var best: (ClassifierHead, PerformanceReport)?
            var bestScore = -1.0
            for l2 in [0.03, 0.1, 0.3, 1.0] as [Float] {
                var options = quick
                options.l2 = l2
                let r = try Trainer.train(samples, tagIDs: tagIDs, kind: kind, backbone: backbone, inputSize: size, options: options)
                let score = r.performance.summary().averagePrecision
                if score > bestScore { bestScore = score; best = r }
            }
            return best!
        }
        var performance = report
        performance.sampleIDs = images.map { $0.id!.uuidString.lowercased() }
        var shipped = head
        if advanced {
            // Then the backbone's last stage too, from the best probe (85–99 %).
            if try await queue.isCancelled(job) { throw Cancelled() }
            let tuned = try await AdvancedClassifierTraining(app: app, job: job, queue: queue, iterationID: iteration.id!, started: started)
                .run(images: images, tags: samples.map(\.tags), tagIDs: tagIDs, kind: kind, probe: head, model: model,
                     budgetHours: iteration.budgetHours)
            shipped = tuned.head
            performance.recipe = tuned.recipe.method
            performance.fineTune = tuned.recipe.fineTune
        }
        let modelHash = try await app.blobStore.put(try shipped.serialised())
        let metrics = String(decoding: try JSONEncoder().encode(performance), as: UTF8.self)
        try await Iteration.query(on: db).filter(\.$id == iteration.id!).filter(\.$status == "Training")
            .set(\.$status, to: "Completed").set(\.$progress, to: 100).set(\.$modelHash, to: modelHash)
            .set(\.$metricsJSON, to: metrics).set(\.$trainedAt, to: Date())
            .set(\.$trainingSeconds, to: Date().timeIntervalSince(started)).update()
    }
}
