import Fluent
import Vapor
import VisionEngine

/// Prediction API v3.0/v3.1: classify an image (multipart `imageData` or raw bytes) or a
/// URL, stored or not. The key's account must be the one the iteration is published to.
struct PredictionController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("customvision", ":version", "prediction").grouped(APIKeyAuthenticator(kind: .prediction), RateLimitMiddleware(kind: "prediction"))
        for kind in ["classify", "detect"] {
            for tail in [["image"], ["image", "nostore"], ["url"], ["url", "nostore"]] {
                let path: [PathComponent] = [":projectId", .constant(kind), "iterations", ":publishedName"] + tail.map { .constant($0) }
                p.on(.POST, path, body: .collect(maxSize: "6mb")) { req in
                    try await predict(req, detect: kind == "detect", url: tail[0] == "url", store: tail.count == 1)
                }
            }
        }
    }

    func predict(_ req: Request, detect: Bool, url: Bool, store: Bool) async throws -> WireImagePrediction {
        let account = req.account
        let name = req.parameters.get("publishedName") ?? ""
        guard let projectID = UUID(uuidString: req.parameters.get("projectId") ?? ""),
              let it = try await Iteration.query(on: req.db).filter(\.$projectID == projectID).filter(\.$publishName == name).first(),
              it.predictionAccountID == account.id else {
            throw CVError.notFound("NotFoundIteration", "No iteration is published as '\(name.prefix(64))' for this project and key.")
        }
        guard !detect else {
            throw CVError.badRequest("BadRequestNotSupported", "This iteration is a classifier; use the classify route.")
        }
        let data = try await imageBytes(req, url: url)
        do { _ = try ImageDecoder.probe(data, maxBytes: ImageDecoder.predictionMaxBytes) } catch let e as ImageDecodeError {
            switch e {
            case .tooManyBytes: throw CVError.badRequest("BadRequestImageSizeBytes", "Prediction images may be at most 4 MB.")
            case .dimensions(_, _, let why): throw CVError.badRequest("BadRequestImageDimensions", "The image was refused: \(why).")
            case .unsupportedFormat, .corrupt: throw CVError.badRequest("BadRequestImageFormat", "The image cannot be read; use JPEG, PNG, BMP, GIF or WebP.")
            }
        }
        let project = try await Project.find(projectID, on: req.db)!
        // The prediction account pays: its monthly quota.
        do {
            try await req.db.writeTransaction { tx in try await QuotaLedger.consume(.predictionsPerMonth, account: account, on: tx) }
        } catch let e as QuotaLedger.Exceeded { throw CVError.quotaExceeded(e) }
        let results: [(tagID: String, probability: Float)]
        do {
            results = try await req.application.predictor.classify(data, iteration: it, app: req.application)
        } catch {
            try? await QuotaLedger.release(.predictionsPerMonth, account: account, on: req.db)
            throw CVError.badRequest("BadRequestImageFormat", "The image cannot be decoded.")
        }
        let tags = try await ImageService(db: req.db).projectTags(project)
        let v30 = req.parameters.get("version")?.lowercased() == "v3.0"
        let predictions = results.map { r in
            WirePrediction(probability: r.probability, tagId: r.tagID,
                           tagName: UUID(uuidString: r.tagID).flatMap { tags[$0]?.name } ?? "",
                           tagType: v30 ? nil : UUID(uuidString: r.tagID).flatMap { tags[$0]?.typeRaw } ?? "Regular")
        }
        let id = UUID()
        let created = Date()
        if store {
            let hash = try await req.application.threadPool.runIfActive { [blobs = req.application.blobStore] in try blobs.put(data) }
            let row = StoredPrediction()
            row.id = id; row.projectID = projectID; row.iterationID = it.id!; row.blobHash = hash; row.createdAt = created
            row.resultsJSON = String(decoding: try JSONEncoder().encode(predictions), as: UTF8.self)
            try await row.create(on: req.db)
        }
        return WireImagePrediction(id: id.uuidString.lowercased(), project: projectID.uuidString.lowercased(),
                                   iteration: it.id!.uuidString.lowercased(), created: created, predictions: predictions)
    }

    private func imageBytes(_ req: Request, url: Bool) async throws -> Data {
        if url {
            struct ImageURL: Content { var url: String? }
            guard let raw = try req.content.decode(ImageURL.self).url, !raw.isEmpty else {
                throw CVError.badRequest("BadRequestImageUrl", "url is required.")
            }
            let fetcher = ImageURLFetcher(http: req.application.http.client.shared, policy: req.application.urlPolicy, logger: req.logger)
            switch await fetcher.fetch(raw) {
            case .success(let d): return d
            case .failure: throw CVError.badRequest("BadRequestImageUrl", "The image at the URL could not be fetched.")
            }
        }
        let body = req.body.data ?? ByteBuffer()
        if let type = req.headers.contentType, type.type == "multipart", let boundary = type.parameters["boundary"] {
            guard let part = try ImagesController.parts(body, boundary: boundary).first else {
                throw CVError.badRequest("BadRequestImageStream", "The multipart body holds no image.")
            }
            return Data(buffer: part.body)
        }
        guard body.readableBytes > 0 else { throw CVError.badRequest("BadRequestImageStream", "The request has no image.") }
        return Data(buffer: body)
    }
}
