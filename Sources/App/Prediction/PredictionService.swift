import Fluent
import Vapor
import VisionEngine

/// Runs a published or quick-tested iteration on one image and optionally stores the
/// prediction (image blob + results) with the project's predictions.
struct PredictionService {
    let app: Application
    let db: Database

    /// Refuses what cannot be a prediction image before anything is computed or counted.
    static func validate(_ data: Data) throws {
        do { _ = try ImageDecoder.probe(data, maxBytes: ImageDecoder.predictionMaxBytes) } catch let e as ImageDecodeError {
            switch e {
            case .tooManyBytes: throw CVError.badRequest("BadRequestImageSizeBytes", "Prediction images may be at most 4 MB.")
            case .dimensions(_, _, let why): throw CVError.badRequest("BadRequestImageDimensions", "The image was refused: \(why).")
            case .unsupportedFormat, .corrupt: throw CVError.badRequest("BadRequestImageFormat", "The image cannot be read; use JPEG, PNG, BMP, GIF or WebP.")
            }
        }
    }

    /// Runs `body` as one prediction of `account`'s monthly quota, given back if it fails.
    func counted<T>(account: Account, _ body: (PredictionService) async throws -> T) async throws -> T {
        do {
            try await QuotaLedger.consumeOne(.predictionsPerMonth, account: account, on: db)
        } catch let e as QuotaLedger.Exceeded { throw CVError.quotaExceeded(e) }
        do {
            return try await body(self)
        } catch {
            try? await QuotaLedger.release(.predictionsPerMonth, account: account, on: db)
            throw error
        }
    }

    /// `tags`: the project's tags when the caller has them already.
    func predict(project: Project, iteration it: Iteration, data: Data, store: Bool, withTagType: Bool,
                 tags known: [UUID: Tag]? = nil) async throws -> WireImagePrediction {
        var results: [(tagID: String, probability: Float, box: NormalisedBox?)]
        do {
            if project.projectType == "ObjectDetection" {
                results = try await app.predictor.detect(data, iteration: it, account: project.accountID, app: app)
                    .map { ($0.tagID, $0.detection.probability, $0.detection.box) }
            } else {
                results = try await app.predictor.classify(data, iteration: it, account: project.accountID, app: app).map { ($0.tagID, $0.probability, nil) }
            }
        } catch is ImageDecodeError {
            throw CVError.badRequest("BadRequestImageFormat", "The image cannot be decoded.")
        }
        var tags = known ?? [:]
        if known == nil { tags = try await ImageService(db: db).projectTags(project) }
        let predictions = results.map { r in
            WirePrediction(probability: r.probability, tagId: r.tagID,
                           tagName: UUID(uuidString: r.tagID).flatMap { tags[$0]?.name } ?? "",
                           boundingBox: r.box.map(WireBoundingBox.init),
                           tagType: withTagType ? (UUID(uuidString: r.tagID).flatMap { tags[$0]?.typeRaw } ?? "Regular") : nil)
        }
        let id = UUID(), created = Date()
        let limit = store ? try await storedLimit(project: project) : nil
        if store, limit != 0 {
            try StorageSpace.refuseWritesIfLow(settings: app.settings)
            let blobs = app.blobStore
            let hash = try await blobs.put(data)
            let row = StoredPrediction()
            row.id = id; row.projectID = project.id!; row.iterationID = it.id!; row.blobHash = hash; row.createdAt = created
            row.resultsJSON = String(decoding: try JSONEncoder().encode(predictions), as: UTF8.self)
            try await row.create(on: db)
            if let limit { try await keepNewest(limit, project: project) }
        }
        return WireImagePrediction(id: id.uuidString.lowercased(), project: project.id!.uuidString.lowercased(),
                                   iteration: it.id!.uuidString.lowercased(), created: created, predictions: predictions)
    }

    /// Keeps the project's newest `cap` stored predictions; older ones and their blobs go.
    private func keepNewest(_ cap: Int, project: Project) async throws {
        let surplus = try await StoredPrediction.query(on: db).filter(\.$projectID == project.id!)
            .sort(\.$createdAt, .descending).sort(\.$id, .descending).offset(cap).limit(256).all()
        guard !surplus.isEmpty else { return }
        try await StoredPrediction.query(on: db).filter(\.$id ~~ surplus.compactMap(\.id)).delete()
        BlobSweeper.freeLater(Set(surplus.map(\.blobHash)), app: app)
    }

    /// The project owner's `storedPredictionsPerProject` (nil: unlimited; 0: store nothing).
    private func storedLimit(project: Project) async throws -> Int? {
        guard let owner = try await Account.find(project.accountID, on: db) else { return nil }
        return try await LimitResolver.limit(.storedPredictionsPerProject, for: owner, on: db)
    }

    /// Image bytes from a prediction request: URL (JSON), multipart `imageData`, or raw.
    static func imageBytes(_ req: Request, url: Bool) async throws -> Data {
        if url {
            struct ImageURL: Content { var url: String? }
            guard let raw = try req.wireBody(ImageURL.self).url, !raw.isEmpty else {
                throw CVError.badRequest("BadRequestImageUrl", "url is required.")
            }
            let fetcher = ImageURLFetcher(http: req.application.pinnedHTTP, policy: req.application.urlPolicy, logger: req.logger)
            switch await fetcher.fetch(raw) {
            case .success(let d): return d
            case .failure: throw CVError.badRequest("BadRequestImageUrl", "The image at the URL could not be fetched.")
            }
        }
        let body = req.body.data ?? ByteBuffer()
        if let boundary = try MultipartBoundary.of(req.headers.contentType) {
            guard let part = try RequestBodyReader.parts(body, boundary: boundary).first else {
                throw CVError.badRequest("BadRequestImageStream", "The multipart body holds no image.")
            }
            return Data(buffer: part.body)
        }
        guard body.readableBytes > 0 else { throw CVError.badRequest("BadRequestImageStream", "The request has no image.") }
        return Data(buffer: body)
    }
}
