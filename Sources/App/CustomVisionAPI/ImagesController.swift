import Fluent
import Vapor

/// Training API images: create (multipart, octet-stream, base64 files, URLs), list and
/// count with filters, delete, tags, regions, metadata.
struct ImagesController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let t = routes.grouped("customvision", ":version", "training", "projects", ":projectId")
            .grouped(APIKeyAuthenticator(kind: .training))
        // Streamed: the handler reads the body within the limit of what it holds (RequestBodyReader).
        t.on(.POST, "images", body: .stream, use: createFromData)
        t.on(.POST, "images", "files", body: .stream, use: createFromFiles)
        t.on(.POST, "images", "urls", body: .collect(maxSize: "1mb"), use: createFromURLs)
        t.get("images", use: list)
        t.get("images", "count", use: count)
        t.get("images", "tagged", use: tagged)
        t.get("images", "tagged", "count", use: taggedCount)
        t.get("images", "untagged", use: untagged)
        t.get("images", "untagged", "count", use: untaggedCount)
        t.get("images", "id", use: byIDs)
        t.delete("images", use: delete)
        t.post("images", "tags", use: addTags)
        t.delete("images", "tags", use: removeTags)
        t.post("images", "regions", use: addRegions)
        // Proposals run the network: the same TPS limit as quick tests and predictions.
        t.grouped(RateLimitMiddleware(kind: "prediction")).post("images", ":imageId", "regionproposals", use: regionProposals)
        // SDK 0.4.0 (v2.2) calls region proposals without "projects/" in the path.
        routes.grouped("customvision", ":version", "training", ":projectId").grouped(APIKeyAuthenticator(kind: .training))
            .grouped(RateLimitMiddleware(kind: "prediction")).post("images", ":imageId", "regionproposals", use: regionProposals)
        t.delete("images", "regions", use: removeRegions)
        t.post("images", "metadata", use: updateMetadata)
    }

    // MARK: creation

    private func ingestor(_ req: Request) -> ImageIngestor {
        ImageIngestor(db: req.db, blobs: req.application.blobStore, decoder: req.application.decodePool, settings: req.application.settings)
    }

    static func summary(_ outcomes: [IngestOutcome], req: Request) async throws -> Response {
        let images = try await WireImage.make(outcomes.compactMap(\.image), req: req)
        var byID: [String: WireImage] = [:]
        for w in images { byID[w.id] = w }
        let results = outcomes.map { o in
            WireImageCreateResult(sourceUrl: o.sourceURL, status: o.status,
                                  image: o.image.flatMap { byID[$0.id!.uuidString.lowercased()] })
        }
        let ok = outcomes.allSatisfy { $0.status == "OK" }
        return try await .batch(WireImageCreateSummary(isBatchSuccessful: ok, images: results), allOK: ok, for: req)
    }

    func createFromData(req: Request) async throws -> Response {
        let project = try await req.project()
        let tagIDs = try Self.csv(req, "tagIds", max: 20)
        var items: [IngestItem] = []
        try await UploadGate.shared.admit(req, account: req.account.id!) {
            if let boundary = try MultipartBoundary.of(req.headers.contentType) {
                items = try await RequestBodyReader.multipart(req, boundary: boundary, maxParts: ImageIngestor.maxBatch,
                                                              limit: RequestBodyReader.trainingMultipart, account: req.account.id!) { IngestItem(data: Data(buffer: $0.body)) }
            } else {
                items.append(IngestItem(data: Data(buffer: try await RequestBodyReader.collect(req, limit: RequestBodyReader.trainingImage))))
            }
        }
        let outcomes = try await ingestor(req).ingest(account: req.account, project: project, items: items,
                                                      batchTagIDs: tagIDs, metadata: [:])
        return try await Self.summary(outcomes, req: req)
    }

    func createFromFiles(req: Request) async throws -> Response {
        let project = try await req.project()
        let batch = try await UploadGate.shared.admit(req, account: req.account.id!) {
            _ = try await RequestBodyReader.collect(req, limit: RequestBodyReader.trainingFiles)
            return try req.wireBody(WireImageFileCreateBatch.self)
        }
        let items = (batch.images ?? []).map {
            IngestItem(data: $0.contents, tagIDs: $0.tagIds ?? [], regions: $0.regions ?? [])
        }
        try Self.checkRegions(items)
        let outcomes = try await ingestor(req).ingest(account: req.account, project: project, items: items,
                                                      batchTagIDs: batch.tagIds ?? [], metadata: batch.metadata ?? [:])
        return try await Self.summary(outcomes, req: req)
    }

    func createFromURLs(req: Request) async throws -> Response {
        let project = try await req.project()
        let batch = try req.wireBody(WireImageUrlCreateBatch.self)
        let entries = batch.images ?? []
        guard !entries.isEmpty, entries.count <= ImageIngestor.maxBatch else {
            throw CVError.badRequest("BadRequestImageBatch", "A batch holds 1 to \(ImageIngestor.maxBatch) images; this one has \(entries.count).")
        }
        guard entries.allSatisfy({ !($0.url ?? "").isEmpty }) else {
            throw CVError.badRequest("BadRequestImageUrl", "Every entry needs a url.")
        }
        let fetcher = ImageURLFetcher(http: req.application.pinnedHTTP, policy: req.application.urlPolicy, logger: req.logger)
        // Fetch up to 8 at a time; results keep the batch's order.
        var fetched = [Result<Data, ImageURLFetcher.Failure>?](repeating: nil, count: entries.count)
        try await withThrowingTaskGroup(of: (Int, Result<Data, ImageURLFetcher.Failure>).self) { group in
            var next = 0
            func start() {
                guard next < entries.count else { return }
                let i = next, url = entries[i].url!
                next += 1
                group.addTask { (i, await fetcher.fetch(url)) }
            }
            for _ in 0..<8 { start() }
            while let (i, r) = try await group.next() {
                fetched[i] = r
                start()
            }
        }
        let items = zip(entries, fetched).map { e, r -> IngestItem in
            var item = IngestItem(sourceURL: e.url, tagIDs: e.tagIds ?? [], regions: e.regions ?? [])
            switch r {
            case .success(let data)?: item.data = data
            case .failure(let why)?: item.failure = why.status
            case nil: item.failure = "ErrorSource"
            }
            return item
        }
        try Self.checkRegions(items)
        let outcomes = try await ingestor(req).ingest(account: req.account, project: project, items: items,
                                                      batchTagIDs: batch.tagIds ?? [], metadata: batch.metadata ?? [:])
        return try await Self.summary(outcomes, req: req)
    }

    static func checkRegions(_ items: [IngestItem]) throws {
        guard items.allSatisfy({ $0.regions.allSatisfy(\.isValid) }) else {
            throw CVError.badRequest("BadRequestImageRegions", "Regions are normalised boxes inside the image (left, top ≥ 0; width, height > 0; left+width, top+height ≤ 1).")
        }
    }

    // MARK: query parameters

    /// No project holds more images than this, so a larger skip is a client error.
    static let maxSkip = 100_000_000

    static func csv(_ req: Request, _ name: String, max: Int) throws -> [String] {
        guard let raw = req.query[String.self, at: name], !raw.isEmpty else { return [] }
        let items = raw.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard items.count <= max else {
            throw CVError.badRequest("BadRequest", "At most \(max) values in '\(name)'.")
        }
        return items
    }

    static func uuids(_ req: Request, _ name: String, max: Int) throws -> [UUID] {
        try csv(req, name, max: max).map {
            guard let id = UUID(uuidString: $0) else {
                throw CVError.badRequest("BadRequestInvalidIds", "'\($0.prefix(64))' in '\(name)' is not an id.")
            }
            return id
        }
    }

    /// The iteration whose training set `iterationId` names, or nil when the query is about
    /// the project now.
    static func trainingSet(_ req: Request, project: Project) async throws -> Iteration? {
        guard let raw = req.query[String.self, at: "iterationId"], !raw.isEmpty else { return nil }
        return try await TrainingService(db: req.db).recordedIteration(project, iterationID: raw)
    }

    private func imageQuery(_ req: Request, tagging: ImageQuery.Tagging? = nil) async throws -> ImageQuery {
        var q = ImageQuery()
        q.tagIDs = try Self.uuids(req, "tagIds", max: 20)
        if let t = tagging { q.tagging = t }
        else if let raw = req.query[String.self, at: "taggingStatus"], !raw.isEmpty {
            guard let t = [ImageQuery.Tagging.all, .tagged, .untagged].first(where: { $0.rawValue.lowercased() == raw.lowercased() }) else {
                throw CVError.badRequest("BadRequest", "taggingStatus is All, Tagged or Untagged.")
            }
            q.tagging = t
        }
        if let raw = req.query[String.self, at: "$filter"], !raw.isEmpty {
            do { q.filter = try MetadataFilter.parse(raw) } catch let e as MetadataFilter.SyntaxError {
                throw CVError.badRequest("BadRequest", "$filter: \(e.message).")
            }
        }
        if let raw = req.query[String.self, at: "orderBy"], !raw.isEmpty {
            switch raw.lowercased() {
            case "newest": q.newestFirst = true
            case "oldest": q.newestFirst = false
            default: throw CVError.badRequest("BadRequest", "orderBy is Newest or Oldest.")
            }
        }
        q.take = try req.boundedInt("take", 0...256, default: q.take)
        q.skip = try req.boundedInt("skip", 0...Self.maxSkip, default: q.skip)
        return q
    }

    // MARK: reading

    /// One page of the project's images now (from the database), or of the training set
    /// `iterationId` names (recorded with the iteration).
    private func listing(_ req: Request, _ tagging: ImageQuery.Tagging?) async throws -> [WireImage] {
        try await page(req, try await imageQuery(req, tagging: tagging))
    }

    private func page(_ req: Request, _ q: ImageQuery) async throws -> [WireImage] {
        let project = try await req.project()
        if let it = try await Self.trainingSet(req, project: project) {
            let set = try await TrainingSetQueries(db: req.db).page(iteration: it.id!, q)
            return WireImage.make(set.images, from: set, req: req)
        }
        return try await WireImage.make(try await ImageService(db: req.db).list(project: project, q), req: req)
    }

    private func counting(_ req: Request, _ tagging: ImageQuery.Tagging?) async throws -> Response {
        let q = try await imageQuery(req, tagging: tagging)
        let project = try await req.project()
        if let it = try await Self.trainingSet(req, project: project) {
            return try .jsonScalar(try await TrainingSetQueries(db: req.db).count(iteration: it.id!, q))
        }
        return try .jsonScalar(try await ImageService(db: req.db).count(project: project, q))
    }

    func list(req: Request) async throws -> [WireImage] { try await listing(req, nil) }
    func tagged(req: Request) async throws -> [WireImage] { try await listing(req, .tagged) }
    func untagged(req: Request) async throws -> [WireImage] { try await listing(req, .untagged) }
    func count(req: Request) async throws -> Response { try await counting(req, nil) }
    func taggedCount(req: Request) async throws -> Response { try await counting(req, .tagged) }
    func untaggedCount(req: Request) async throws -> Response { try await counting(req, .untagged) }

    func byIDs(req: Request) async throws -> [WireImage] {
        var q = try await imageQuery(req)
        q.ids = try Self.uuids(req, "imageIds", max: 256)
        q.skip = 0
        q.take = 256
        return try await page(req, q)
    }

    // MARK: editing

    func delete(req: Request) async throws -> Response {
        let project = try await req.project()
        let all = req.query[String.self, at: "allImages"]?.lowercased() == "true"
        let ids = try Self.uuids(req, "imageIds", max: 256)
        guard all || !ids.isEmpty else {
            throw CVError.badRequest("BadRequestInvalidIds", "Give imageIds or allImages=true.")
        }
        let freed = try await ImageService(db: req.db).delete(account: req.account, project: project, ids: all ? nil : ids)
        BlobSweeper.freeLater(freed, app: req.application)
        return .noContent
    }

    func addTags(req: Request) async throws -> WireImageTagCreateSummary {
        let project = try await req.project()
        let pairs = try req.wireBody(WireImageTagCreateBatch.self).tags ?? []
        guard pairs.count <= 256 else { throw CVError.badRequest("BadRequestExceededBatchSize", "At most 256 image tags per call.") }
        let r = try await ImageService(db: req.db).addTags(project: project, pairs: pairs)
        return WireImageTagCreateSummary(created: r.created, duplicated: r.duplicated, exceeded: r.exceeded)
    }

    func removeTags(req: Request) async throws -> Response {
        let project = try await req.project()
        let images = try Self.uuids(req, "imageIds", max: 64), tags = try Self.uuids(req, "tagIds", max: 20)
        guard !images.isEmpty, !tags.isEmpty else { throw CVError.badRequest("BadRequestInvalidIds", "imageIds and tagIds are required.") }
        try await ImageService(db: req.db).removeTags(project: project, imageIDs: images, tagIDs: tags)
        return .noContent
    }

    func addRegions(req: Request) async throws -> Response {
        let project = try await req.project()
        let entries = try req.wireBody(WireImageRegionCreateBatch.self).regions ?? []
        guard entries.count <= 64 else { throw CVError.badRequest("BadRequestExceededBatchSize", "At most 64 regions per call.") }
        let r = try await ImageService(db: req.db).addRegions(project: project, entries: entries)
        let names = try await ImageService(db: req.db).projectTags(project).mapValues(\.name)
        let created = r.created.map { e, row in
            WireImageRegionCreateResult(imageId: e.imageId.lowercased(), regionId: row.id!.uuidString.lowercased(),
                                        tagName: names[row.tagID], created: row.createdAt, tagId: row.tagID.uuidString.lowercased(),
                                        left: row.left, top: row.top, width: row.width, height: row.height)
        }
        return try await .batch(WireImageRegionCreateSummary(created: created, duplicated: r.duplicated, exceeded: r.exceeded),
                                allOK: r.duplicated.isEmpty && r.exceeded.isEmpty, for: req)
    }

    func removeRegions(req: Request) async throws -> Response {
        let project = try await req.project()
        let ids = try Self.uuids(req, "regionIds", max: 64)
        guard !ids.isEmpty else { throw CVError.badRequest("BadRequestInvalidIds", "regionIds is required.") }
        try await ImageService(db: req.db).removeRegions(project: project, ids: ids)
        return .noContent
    }

    func updateMetadata(req: Request) async throws -> Response {
        let project = try await req.project()
        let ids = try Self.csv(req, "imageIds", max: 256)
        guard !ids.isEmpty else { throw CVError.badRequest("BadRequestInvalidIds", "imageIds is required.") }
        let metadata = try req.wireBody([String: String].self, keysAreData: true)
        let r = try await ImageService(db: req.db).updateMetadata(project: project, imageIDs: ids, metadata: metadata)
        let ok = r.allSatisfy { $0.1 == "OK" }
        return try await .batch(WireImageMetadataUpdateSummary(
            isBatchSuccessful: ok, images: r.map { WireImageMetadataUpdateEntry(imageId: $0.0, status: $0.1, metadata: $0.2) }),
            allOK: ok, for: req)
    }

    struct WireRegionProposal: Content { var confidence: Float; var boundingBox: WireBoundingBox }
    struct WireImageRegionProposal: Content { var projectId: String; var imageId: String; var proposals: [WireRegionProposal] }

    func regionProposals(req: Request) async throws -> WireImageRegionProposal {
        let p = try await req.project()
        guard let id = UUID(uuidString: req.parameters.get("imageId") ?? "") else { throw CVError.notFound("NotFoundImage", "Image not found.") }
        let found = try await RegionProposalService(app: req.application, db: req.db).proposals(project: p, imageID: id, account: req.account)
        return WireImageRegionProposal(projectId: p.id!.uuidString.lowercased(), imageId: id.uuidString.lowercased(),
                                       proposals: found.map { WireRegionProposal(confidence: $0.confidence, boundingBox: WireBoundingBox($0.box)) })
    }
}
