import Fluent
import Foundation
import Vapor
import VisionEngine

/// Advanced training's second stage for classifiers: every image's augmentation views
/// through the backbone up to its last stage (held in memory for this job only), then the
/// last stage, head convolution and linear head fine-tuned from the probe
/// (ClassifierFineTuner) within the iteration's reserved budget. Progress runs 85–99 %.
struct AdvancedClassifierTraining {
    let app: Application
    let job: Job
    let queue: JobQueue
    let iterationID: UUID
    /// When the job began (the expected end counts from it).
    let started: Date

    /// What the iteration's metrics record about how its model was made.
    struct Recipe: Codable, Sendable {
        var method: String
        var views: Int
        var fineTune: FineTuneReport?
    }

    /// Last-stage inputs held for one job: beyond this, Advanced keeps the probe and says so.
    static let memoryBudget = 2 << 30
    static let minimumViews = 4

    /// Views per image that fit the memory budget (0: too many images to fine-tune).
    static func views(images: Int, model: EfficientNetLite) -> Int {
        let size = model.variant.inputSize, stride = 32
        let perView = (size + stride - 1) / stride * ((size + stride - 1) / stride) * model.lastStageInputChannels * 4
        let fit = memoryBudget / max(1, images * perView)
        let wanted = FineTuneOptions().views
        return fit >= minimumViews ? min(wanted, fit) : 0
    }

    func run(images: [ImageRecord], tags: [[Int]], tagIDs: [String], kind: ClassifierHead.Kind, probe: ClassifierHead,
             model: EfficientNetLite, budgetHours: Int) async throws -> (head: ClassifierHead, recipe: Recipe) {
        let count = Self.views(images: images.count, model: model)
        guard count > 0 else {
            return (probe, Recipe(method: "linear probe: too many images to fine-tune in memory", views: 2, fineTune: nil))
        }
        let views = AugmentationView.views(count: count, framing: probe.framing, colour: FineTuneOptions().colourJitter)
        let control = TrainingControl(started: started)
        control.progress = 85
        let poller = control.mirror(iteration: iterationID, job: job, queue: queue, db: app.db)
        defer { poller.cancel() }
        let blobs = app.blobStore
        let size = model.variant.inputSize
        var samples: [FineTuneSample] = []
        let chunk = 8
        control.imagesDone(0)
        for start in stride(from: 0, to: images.count, by: chunk) {
            if control.cancelled { throw TrainingJob.Cancelled() }
            let part = Array(images[start..<min(start + chunk, images.count)])
            let partTags = Array(tags[start..<min(start + chunk, images.count)])
            samples += try await app.engine.run {
                try zip(part, partTags).map { img, t in
                    let decoded = try ImageDecoder.rgb8(try blobs.readBlocking(img.originalHash))
                    let outputs = try views.map { v -> BackboneOutput in
                        let input = try Preprocessor.input(rgb: decoded.pixels, width: decoded.width, height: decoded.height, size: size, view: v)
                        return model.forward(Tensor(n: 1, h: size, w: size, c: 3, data: input), maps: [.lastStageInput])
                    }
                    return FineTuneSample(outputs: outputs, tags: t)
                }
            }
            control.imagesDone(min(images.count, start + chunk))
            control.progress = 85 + 4 * min(images.count, start + chunk) / max(images.count, 1)
        }
        var options = FineTuneOptions()
        options.threads = app.engine.threadsPerJob
        options.probe.l2 = probe.l2
        options.probe.framing = probe.framing
        options.timeBudget = Double(budgetHours) * 3600
        let trained: (model: EfficientNetLite, head: ClassifierHead, report: FineTuneReport)
        do {
            trained = try await app.engine.run { [samples, options] in
                try ClassifierFineTuner.train(samples, tagIDs: tagIDs, kind: kind, model: model, options: options) { fraction in
                    control.progress = 89 + Int(10 * fraction)
                    return !control.cancelled
                }
            }
        } catch FineTuneError.cancelled {
            throw TrainingJob.Cancelled()
        }
        guard trained.report.epochs > 0 else {
            // The cross-validated probe stays what ships.
            let why = trained.report.refitDiverged == true ? "fine-tuning on every image diverged"
                : "the fine-tuned last stage was less accurate on the held-out images"
            return (probe, Recipe(method: "linear probe: \(why)", views: count, fineTune: trained.report))
        }
        var method = "fine-tuned last stage and head, \(trained.report.epochs) epochs from the linear probe, "
            + "\(count) views (crops, flips, colour ±\(Int((options.colourJitter * 100).rounded())) %)"
        if options.mix < 1 { method += ", \(Int((options.mix * 100).rounded())) % of the way from the probe's weights" }
        return (trained.head, Recipe(method: method, views: count, fineTune: trained.report))
    }
}
