import Fluent
import Vapor
import VisionEngine

/// Smart labeling: an iteration's predictions for training images (tags for a classifier,
/// tagged boxes for a detector), computed on the prediction path once per image and kept,
/// then filtered and sorted for `query_suggested_images` and its count.
struct SuggestionService {
    let app: Application
    let db: Database
    /// Detections kept per image: the region proposals' floor and count.
    static let minimumBoxProbability: Float = 0.05
    static let maximumBoxes = 32
    /// New predictions one call may make, and for how long it may start new ones: a query
    /// over more untagged images answers from those predicted so far, and the next call
    /// predicts the next ones.
    static let maximumNewPerCall = 1000
    static let maximumSecondsPerCall: Double = 10

    /// The project's Completed iteration named by `raw`.
    func iteration(_ project: Project, id raw: String?) async throws -> Iteration {
        guard let raw, !raw.isEmpty else {
            throw CVError.badRequest("BadRequestRequiredParamIsNull", "iterationId is required: the iteration whose model suggests.")
        }
        let it = try await TrainingService(db: db).iteration(project, id: raw)
        guard it.status == "Completed", it.modelHash != nil else {
            throw CVError.badRequest("BadRequestIterationIsNotTrained", "\(it.name) has not finished training.")
        }
        return it
    }

    /// Suggestions for the given images (all of the project's, in order), computing those
    /// not kept yet when `predictNew`. Each computation is one prediction of `account`'s
    /// monthly quota, run on the engine's shared pool, so other callers' predictions
    /// interleave with a long run of them. Throws `QuotaLedger.Exceeded` only when the
    /// quota stopped the call before it could add any.
    func suggestions(project: Project, iteration: Iteration, images: [ImageRecord], account: Account,
                     predictNew: Bool = true) async throws -> [UUID: Suggestion] {
        var out: [UUID: Suggestion] = [:]
        let ids = images.compactMap(\.id)
        for start in stride(from: 0, to: ids.count, by: 500) {
            let part = Array(ids[start..<min(start + 500, ids.count)])
            for s in try await Suggestion.query(on: db).filter(\.$iterationID == iteration.id!).filter(\.$imageID ~~ part).all() {
                out[s.imageID] = s
            }
        }
        guard predictNew else { return out }
        let deadline = Date().addingTimeInterval(Self.maximumSecondsPerCall)
        var made = 0
        for img in images where out[img.id!] == nil {
            guard made < Self.maximumNewPerCall, made == 0 || Date() < deadline else { break }
            let key = "\(iteration.id!)|\(img.id!)"
            let entries: [Suggestion.Entry]
            do {
                entries = try await app.suggestionFlights.entries(key) { [self] in
                    let entries = try await predict(img, project: project, iteration: iteration, account: account)
                    // Kept before the flight ends, so a later caller finds the row, not a new prediction.
                    do { try await Self.suggestion(iteration: iteration, image: img, entries).create(on: db) }
                    catch let e where (e as? DatabaseError)?.isConstraintFailure == true {
                        // Computed meanwhile by another process, or the image was deleted: either way nothing to keep.
                    }
                    return entries
                }
            } catch let e as QuotaLedger.Exceeded {
                if made == 0 { throw e }
                break
            }
            made += 1
            out[img.id!] = Self.suggestion(iteration: iteration, image: img, entries)
        }
        return out
    }

    private static func suggestion(iteration: Iteration, image: ImageRecord, _ entries: [Suggestion.Entry]) -> Suggestion {
        let s = Suggestion()
        s.iterationID = iteration.id!; s.imageID = image.id!; s.createdAt = Date()
        s.predictions = entries
        s.uncertainty = Double(1 - (entries.map(\.probability).max() ?? 0))
        return s
    }

    /// One image's suggestion, paid for with one prediction; an image that cannot be
    /// decoded suggests nothing and costs nothing.
    private func predict(_ img: ImageRecord, project: Project, iteration: Iteration, account: Account) async throws -> [Suggestion.Entry] {
        try await QuotaLedger.consumeOne(.predictionsPerMonth, account: account, on: db)
        do {
            let blobs = app.blobStore
            let data = try await blobs.read(img.originalHash)
            if project.projectType == "ObjectDetection" {
                return try await app.predictor.detect(data, iteration: iteration, account: project.accountID, app: app)
                    .filter { $0.detection.probability >= Self.minimumBoxProbability }.prefix(Self.maximumBoxes)
                    .map { Suggestion.Entry(tagID: $0.tagID, probability: $0.detection.probability,
                                            box: [$0.detection.box.left, $0.detection.box.top, $0.detection.box.width, $0.detection.box.height]) }
            }
            return try await app.predictor.classify(data, iteration: iteration, account: project.accountID, app: app)
                .map { Suggestion.Entry(tagID: $0.tagID, probability: $0.probability, box: nil) }
        } catch {
            try? await QuotaLedger.release(.predictionsPerMonth, account: account, on: db)
            if error is ImageDecodeError { return [] }
            throw error
        }
    }

    struct Query {
        var tagIDs: [String] = []
        var threshold: Float = 0
        var descending = false
    }

    /// The project's untagged images whose suggestion for one of `q.tagIDs` (any tag when
    /// empty) reaches `q.threshold`, by uncertainty; each with the predictions that matched.
    func matching(project: Project, iteration: Iteration, account: Account, _ q: Query) async throws -> [(ImageRecord, Suggestion, [Suggestion.Entry])] {
        // Every untagged image: the queue is ranked by uncertainty, which only the suggestions know.
        let untagged = try await ImageService(db: db).list(project: project, ImageQuery(tagging: .untagged, newestFirst: false, take: 1_000_000_000))
        let found = try await suggestions(project: project, iteration: iteration, images: untagged, account: account)
        let wanted = Set(q.tagIDs.map { $0.lowercased() })
        var out: [(ImageRecord, Suggestion, [Suggestion.Entry])] = []
        for img in untagged {
            guard let s = found[img.id!] else { continue }
            let hits = s.predictions.filter { (wanted.isEmpty || wanted.contains($0.tagID)) && $0.probability >= q.threshold }
            if !hits.isEmpty { out.append((img, s, hits)) }
        }
        out.sort { a, b in
            a.1.uncertainty == b.1.uncertainty ? a.0.createdAt < b.0.createdAt
                : (q.descending ? a.1.uncertainty > b.1.uncertainty : a.1.uncertainty < b.1.uncertainty)
        }
        return out
    }
}
