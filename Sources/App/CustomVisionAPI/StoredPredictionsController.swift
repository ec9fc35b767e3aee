import Fluent
import Vapor

/// Quick tests (training key), stored predictions: query, delete, and turning them into
/// training images.
struct StoredPredictionsController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let t = routes.grouped("customvision", ":version", "training", "projects", ":projectId")
            .grouped(APIKeyAuthenticator(kind: .training))
        // A quick test is a prediction: the same TPS limit and monthly count as the Prediction API.
        let q = t.grouped(RateLimitMiddleware(kind: "prediction"))
        q.on(.POST, "quicktest", "image", body: .collect(maxSize: ByteCount(value: RequestBodyReader.prediction))) { try await quickTest($0, url: false) }
        q.post("quicktest", "url") { try await quickTest($0, url: true) }
        t.post("predictions", "query", use: query)
        t.delete("predictions", use: delete)
        t.post("images", "predictions", use: createImages)
    }

    /// The given iteration, or the newest completed one.
    private func iteration(_ req: Request, _ p: Project) async throws -> Iteration {
        if let raw = req.query[String.self, at: "iterationId"], !raw.isEmpty {
            let it = try await TrainingService(db: req.db).iteration(p, id: raw)
            guard it.status == "Completed" else { throw CVError.badRequest("BadRequestIterationIsNotTrained", "The iteration has not finished training.") }
            return it
        }
        guard let it = try await Iteration.query(on: req.db).filter(\.$projectID == p.id!).filter(\.$status == "Completed")
            .sort(\.$number, .descending).first() else {
            throw CVError.notFound("NotFoundProjectDefaultIteration", "The project has no trained iteration to test.")
        }
        return it
    }

    func quickTest(_ req: Request, url: Bool) async throws -> WireImagePrediction {
        let p = try await req.project()
        let it = try await iteration(req, p)
        let data = try await PredictionService.imageBytes(req, url: url)
        try PredictionService.validate(data)
        let store = req.query[String.self, at: "store"]?.lowercased() != "false"
        return try await PredictionService(app: req.application, db: req.db).counted(account: req.account) { service in
            try await service.predict(project: p, iteration: it, data: data, store: store, withTagType: true)
        }
    }

    struct QueryTag: Content { var id: String?; var minThreshold: Float?; var maxThreshold: Float? }
    struct QueryToken: Content {
        var session: String?, continuation: String?, maxCount: Int?, orderBy: String?
        var tags: [QueryTag]?, iterationId: String?, startTime: Date?, endTime: Date?, application: String?
    }
    struct StoredImagePrediction: Content {
        var resizedImageUri: String, thumbnailUri: String, originalImageUri: String, domain: String
        var id: String, project: String, iteration: String, created: Date, predictions: [WirePrediction]
    }
    struct QueryResult: Content { var token: QueryToken; var results: [StoredImagePrediction] }

    func query(req: Request) async throws -> QueryResult {
        let p = try await req.project()
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { d in
            let s = try d.singleValueContainer().decode(String.self)
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = f.date(from: s) { return date }
            f.formatOptions = [.withInternetDateTime]
            guard let date = f.date(from: s) else { throw CVError.badRequest("BadRequestPredictionInvalidQueryParameters", "Dates are ISO 8601.") }
            return date
        }
        var token = (req.body.data?.readableBytes ?? 0) > 0 ? try req.wireBody(QueryToken.self, decoder: decoder) : QueryToken()
        let maxCount = token.maxCount ?? 50
        guard (1...256).contains(maxCount) else { throw CVError.badRequest("BadRequestPredictionResultsExceededCount", "maxCount is 1 to 256.") }
        guard (token.tags?.count ?? 0) <= 20 else { throw CVError.badRequest("BadRequestPredictionTagsExceededCount", "At most 20 tags.") }
        let offset = try Self.continuationOffset(token.continuation)
        var q = StoredPredictionQuery()
        if let raw = token.iterationId, !raw.isEmpty {
            guard let it = UUID(uuidString: raw) else { throw CVError.badRequest("BadRequestPredictionInvalidQueryParameters", "iterationId is not an id.") }
            q.iteration = it
        }
        q.start = token.startTime
        q.end = token.endTime
        q.newestFirst = token.orderBy?.lowercased() != "oldest"
        q.tags = (token.tags ?? []).map { .init(tagID: $0.id?.lowercased() ?? "", min: $0.minThreshold ?? 0, max: $0.maxThreshold ?? 1) }
        let found = try await q.page(project: p.id!, offset: offset, count: maxCount, on: req.db)
        let page = found.rows.map { row -> (StoredPrediction, [WirePrediction]) in
            (row, (try? JSONDecoder().decode([WirePrediction].self, from: Data(row.resultsJSON.utf8))) ?? [])
        }
        token.continuation = found.more ? String(offset + page.count) : nil
        let signer = req.application.blobSigner, base = req.application.settings.publicURL
        return QueryResult(token: token, results: page.map { row, predictions in
            let uri = signer.url(hash: row.blobHash, base: base)
            return StoredImagePrediction(resizedImageUri: uri, thumbnailUri: uri, originalImageUri: uri,
                                         domain: p.domainID.uuidString.lowercased(), id: row.id!.uuidString.lowercased(),
                                         project: p.id!.uuidString.lowercased(), iteration: row.iterationID.uuidString.lowercased(),
                                         created: row.createdAt, predictions: predictions)
        })
    }

    /// A continuation is the decimal offset this service handed out: anything else (negative,
    /// huge, not a number) is refused rather than used as a count.
    static func continuationOffset(_ raw: String?) throws -> Int {
        guard let raw, !raw.isEmpty else { return 0 }
        guard raw.count <= 9, raw.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(raw) else {
            throw CVError.badRequest("BadRequestPredictionInvalidQueryParameters", "continuation is not a token this service issued.")
        }
        return n
    }

    func delete(req: Request) async throws -> Response {
        let p = try await req.project()
        let ids = try ImagesController.uuids(req, "ids", max: 64)
        guard !ids.isEmpty else { throw CVError.badRequest("BadRequestPredictionIdsMissing", "ids is required.") }
        let q = StoredPrediction.query(on: req.db).filter(\.$projectID == p.id!).filter(\.$id ~~ ids)
        let freed = Set(try await q.all().map(\.blobHash))
        try await StoredPrediction.query(on: req.db).filter(\.$projectID == p.id!).filter(\.$id ~~ ids).delete()
        BlobSweeper.freeLater(freed, app: req.application)
        return .noContent
    }

    /// Predicted boxes at least this probable become regions of images made from predictions.
    static let regionThreshold: Float = 0.5

    struct IdEntry: Content { var id: String?; var tagIds: [String]?; var regions: [RegionBox]? }
    struct IdBatch: Content { var images: [IdEntry]?; var tagIds: [String]?; var metadata: [String: String]? }

    /// A stored prediction's image; nil when its bytes are gone (that image's ErrorSource).
    /// A store out of reach is the whole request's 503.
    static func bytes(_ hash: String, from blobs: any BlobStore) async throws -> Data? {
        do { return try await blobs.read(hash) } catch is BlobMissing { return nil }
    }

    /// Stored predictions become training images (the prediction's image bytes).
    func createImages(req: Request) async throws -> Response {
        let p = try await req.project()
        let batch = try req.wireBody(IdBatch.self)
        let blobs = req.application.blobStore
        var items: [IngestItem] = []
        let known = p.projectType == "ObjectDetection" ? Set(try await ImageService(db: req.db).projectTags(p).keys.map { $0.uuidString.lowercased() }) : []
        for e in batch.images ?? [] {
            var item = IngestItem(tagIDs: e.tagIds ?? [], regions: e.regions ?? [])
            if let raw = e.id, let id = UUID(uuidString: raw), let row = try await StoredPrediction.find(id, on: req.db),
               row.projectID == p.id,
               let data = try await Self.bytes(row.blobHash, from: blobs) {
                item.data = data
                // A detection prediction given neither tags nor regions keeps its confident
                // boxes (probability ≥ 0.5, tags still in the project) as regions.
                if p.projectType == "ObjectDetection", (e.tagIds ?? []).isEmpty, (e.regions ?? []).isEmpty {
                    let predicted = (try? JSONDecoder().decode([WirePrediction].self, from: Data(row.resultsJSON.utf8))) ?? []
                    item.regions = predicted.compactMap { pr in
                        guard pr.probability >= Self.regionThreshold, known.contains(pr.tagId.lowercased()), let b = pr.boundingBox else { return nil }
                        let box = RegionBox(tagId: pr.tagId, left: b.left, top: b.top, width: b.width, height: b.height)
                        return box.isValid ? box : nil
                    }.prefix(ImageIngestor.maxRegionsPerImage).map { $0 }
                }
            } else {
                item.failure = "ErrorSource"
            }
            items.append(item)
        }
        try ImagesController.checkRegions(items)
        let outcomes = try await ImageIngestor(db: req.db, blobs: blobs, decoder: req.application.decodePool, settings: req.application.settings)
            .ingest(account: req.account, project: p, items: items, batchTagIDs: batch.tagIds ?? [], metadata: batch.metadata ?? [:])
        return try await ImagesController.summary(outcomes, req: req)
    }
}
