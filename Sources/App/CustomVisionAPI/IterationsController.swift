import Fluent
import Vapor
import VisionEngine

/// Training API: train_project, iterations, performance, publish/unpublish.
struct IterationsController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let t = routes.grouped("customvision", ":version", "training", "projects", ":projectId")
            .grouped(APIKeyAuthenticator(kind: .training))
        t.post("train", use: train)
        t.get("iterations", use: list)
        t.get("iterations", ":iterationId", use: get)
        t.patch("iterations", ":iterationId", use: update)
        t.delete("iterations", ":iterationId", use: delete)
        t.get("iterations", ":iterationId", "performance", use: performance)
        t.get("iterations", ":iterationId", "performance", "images", use: imagePerformances)
        t.get("iterations", ":iterationId", "performance", "images", "count", use: imagePerformanceCount)
        t.post("iterations", ":iterationId", "publish", use: publish)
        t.delete("iterations", ":iterationId", "publish", use: unpublish)
    }

    private func service(_ req: Request) -> TrainingService { TrainingService(db: req.db) }

    private func iteration(_ req: Request, _ p: Project) async throws -> Iteration {
        try await service(req).iteration(p, id: req.parameters.get("iterationId") ?? "")
    }

    private func wire(_ it: Iteration, _ req: Request, _ p: Project) -> WireIteration {
        var w = WireIteration(it, domains: req.application.domainCatalog, project: p)
        if req.isV2 { w.isDefault = it.isDefault }
        return w
    }

    func train(req: Request) async throws -> WireIteration {
        let p = try await req.project()
        let budget = try req.boundedInt("reservedBudgetInHours", -1_000_000...1_000_000, default: 0,
                                       code: "BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining")
        let force = req.query[String.self, at: "forceTrain"]?.lowercased() == "true"
        if let email = req.query[String.self, at: "notificationEmailAddress"], !email.isEmpty, !UserService.validEmail(email) {
            throw CVError.badRequest("BadRequestInvalidEmailAddress", "notificationEmailAddress is not an email address.")
        }
        struct TrainingParameters: Content { var selectedTags: [String]? }
        let parameters = (req.body.data?.readableBytes ?? 0) > 0 ? try req.wireBody(TrainingParameters.self) : nil
        let it = try await service(req).train(account: req.account, project: p, trainingType: req.query[String.self, at: "trainingType"],
                                              budgetHours: budget, force: force, selectedTags: parameters?.selectedTags)
        return wire(it, req, p)
    }

    func list(req: Request) async throws -> [WireIteration] {
        let p = try await req.project()
        return try await service(req).iterations(p).map { wire($0, req, p) }
    }

    func get(req: Request) async throws -> WireIteration {
        let p = try await req.project()
        return wire(try await iteration(req, p), req, p)
    }

    func update(req: Request) async throws -> WireIteration {
        let p = try await req.project()
        let it = try await iteration(req, p)
        let body = try req.wireBody(WireIterationUpdate.self)
        // v2 clients send the whole Iteration back: its name, and whether it is the default.
        guard body.name != nil || (req.isV2 && body.isDefault != nil) else {
            throw CVError.badRequest("BadRequestIterationName", "name is required.")
        }
        var updated = it
        if let name = body.name, name != it.name || !req.isV2 { updated = try await service(req).rename(it, to: name) }
        if req.isV2, let isDefault = body.isDefault, isDefault != it.isDefault {
            updated = try await service(req).setDefault(project: p, updated, isDefault)
        }
        return wire(updated, req, p)
    }

    func delete(req: Request) async throws -> Response {
        let p = try await req.project()
        let freed = try await service(req).delete(account: req.account, project: p, try await iteration(req, p))
        BlobSweeper.freeLater(freed, app: req.application)
        return .noContent
    }

    func performance(req: Request) async throws -> WireIterationPerformance {
        let p = try await req.project()
        let it = try await iteration(req, p)
        var threshold: Float = 0.5
        if let raw = req.query[String.self, at: "threshold"] {
            guard let t = Float(raw), t >= 0, t <= 1 else { throw CVError.badRequest("BadRequest", "threshold is between 0 and 1.") }
            threshold = t
        }
        let names = try await ImageService(db: req.db).projectTags(p)
        if let report = try service(req).detectionReport(it) {
            var overlap: Float = 0.3
            if let raw = req.query[String.self, at: "overlapThreshold"] {
                guard let o = Float(raw), o >= 0, o <= 1 else { throw CVError.badRequest("BadRequest", "overlapThreshold is between 0 and 1.") }
                overlap = o
            }
            let s = report.summary(threshold: threshold, overlap: overlap)
            return WireIterationPerformance(
                perTagPerformance: s.perTag.map { t in
                    WireTagPerformance(id: t.tagID, name: UUID(uuidString: t.tagID).flatMap { names[$0]?.name } ?? "",
                                       precision: t.precision, precisionStdDeviation: 0, recall: t.recall,
                                       recallStdDeviation: 0, averagePrecision: t.averagePrecision)
                },
                precision: s.precision, precisionStdDeviation: 0, recall: s.recall, recallStdDeviation: 0,
                averagePrecision: s.meanAveragePrecision)
        }
        let (_, s) = try service(req).performance(it, threshold: threshold)
        return WireIterationPerformance(
            perTagPerformance: s.perTag.map { t in
                WireTagPerformance(id: t.tagID, name: UUID(uuidString: t.tagID).flatMap { names[$0]?.name } ?? "",
                                   precision: t.precision, precisionStdDeviation: t.precisionStdDeviation, recall: t.recall,
                                   recallStdDeviation: t.recallStdDeviation, averagePrecision: t.averagePrecision)
            },
            precision: s.precision, precisionStdDeviation: s.precisionStdDeviation, recall: s.recall,
            recallStdDeviation: s.recallStdDeviation, averagePrecision: s.averagePrecision)
    }

    struct WireImagePerformance: Content {
        var predictions: [WirePrediction]
        var id: String, created: Date, width: Int, height: Int
        var imageUri: String, thumbnailUri: String
        var tags: [WireImageTag]?, regions: [WireImageRegion]?
    }

    typealias HeldOutPrediction = (tagID: String, probability: Float, box: NormalisedBox?)

    /// Training images with what a model that never saw them predicted for them
    /// (classification: cross-validation; detection: the held-out images), filtered by
    /// tag, ordered by image date.
    private func heldOutImages(_ req: Request) async throws -> (Project, [(ImageRecord, [HeldOutPrediction])]) {
        let p = try await req.project()
        let it = try await iteration(req, p)
        let filter = Set(try ImagesController.uuids(req, "tagIds", max: 20).map { $0.uuidString.lowercased() })
        var ids: [String] = []
        var predicted: [Int: [HeldOutPrediction]] = [:]
        if let report = try service(req).detectionReport(it) {
            ids = report.sampleIDs ?? []
            for image in report.images {
                predicted[image.sample] = image.detections.filter { $0.tag < report.tagIDs.count }
                    .map { (report.tagIDs[$0.tag], $0.probability, $0.box) }
            }
        } else {
            let (report, _) = try service(req).performance(it, threshold: 0.5)
            ids = report.sampleIDs ?? []
            for (i, preds) in report.heldOut() { predicted[i] = preds.map { (report.tagIDs[$0.tag], $0.probability, nil) } }
        }
        let uuids = ids.compactMap(UUID.init(uuidString:))
        var rows: [UUID: ImageRecord] = [:]
        for r in try await ImageRecord.query(on: req.db).filter(\.$id ~~ uuids).all() { rows[r.id!] = r }
        var linked: [UUID: Set<String>] = [:]
        for l in try await ImageTagLink.query(on: req.db).filter(\.$imageID ~~ uuids).all() { linked[l.imageID, default: []].insert(l.tagID.uuidString.lowercased()) }
        for r in try await ImageRegion.query(on: req.db).filter(\.$imageID ~~ uuids).all() { linked[r.imageID, default: []].insert(r.tagID.uuidString.lowercased()) }
        var out: [(ImageRecord, [HeldOutPrediction])] = []
        for (i, raw) in ids.enumerated() {
            guard let id = UUID(uuidString: raw), let row = rows[id], let preds = predicted[i] else { continue }
            if !filter.isEmpty && (linked[id] ?? []).isDisjoint(with: filter) { continue }
            out.append((row, preds))
        }
        let newest = req.query[String.self, at: "orderBy"]?.lowercased() != "oldest"
        out.sort { newest ? $0.0.createdAt > $1.0.createdAt : $0.0.createdAt < $1.0.createdAt }
        return (p, out)
    }

    func imagePerformances(req: Request) async throws -> [WireImagePerformance] {
        let (p, all) = try await heldOutImages(req)
        let take = try req.boundedInt("take", 0...256, default: 50)
        let skip = try req.boundedInt("skip", 0...ImagesController.maxSkip, default: 0)
        let page = Array(all.dropFirst(skip).prefix(take))
        let wire = try await WireImage.make(page.map(\.0), req: req)
        let tags = try await ImageService(db: req.db).projectTags(p)
        return zip(page, wire).map { entry, w in
            WireImagePerformance(
                predictions: entry.1.sorted { $0.probability > $1.probability }.map { t in
                    WirePrediction(probability: t.probability, tagId: t.tagID, tagName: UUID(uuidString: t.tagID).flatMap { tags[$0]?.name } ?? "",
                                   boundingBox: t.box.map(WireBoundingBox.init),
                                   tagType: UUID(uuidString: t.tagID).flatMap { tags[$0]?.typeRaw } ?? "Regular")
                },
                id: w.id, created: w.created, width: w.width, height: w.height, imageUri: w.resizedImageUri,
                thumbnailUri: w.thumbnailUri, tags: w.tags, regions: w.regions)
        }
    }

    func imagePerformanceCount(req: Request) async throws -> Response {
        try .jsonScalar(try await heldOutImages(req).1.count)
    }

    func publish(req: Request) async throws -> Response {
        let p = try await req.project()
        let it = try await iteration(req, p)
        guard let name = req.query[String.self, at: "publishName"], let target = req.query[String.self, at: "predictionId"] else {
            throw CVError.badRequest("BadRequestRequiredParamIsNull", "publishName and predictionId are required.")
        }
        try await service(req).publish(project: p, it, name: name, predictionID: target,
                                       overwrite: req.query[String.self, at: "overwrite"]?.lowercased() == "true")
        return try .jsonScalar(true)
    }

    func unpublish(req: Request) async throws -> Response {
        try await service(req).unpublish(try await iteration(req, try await req.project()))
        return .noContent
    }
}
