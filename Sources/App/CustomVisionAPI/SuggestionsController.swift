import Fluent
import Vapor
import VisionEngine

/// Smart labeling: `suggest_tags_and_regions`, `query_suggested_images` and
/// `query_suggested_image_count`. Suggestions run the network, so these share the
/// prediction TPS limit with quick tests.
struct SuggestionsController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let t = routes.grouped("customvision", ":version", "training", "projects", ":projectId")
            .grouped(APIKeyAuthenticator(kind: .training)).grouped(RateLimitMiddleware(kind: "prediction"))
        t.post("tagsandregions", "suggestions", use: suggest)
        t.post("images", "suggested", use: query)
        t.post("images", "suggested", "count", use: count)
    }

    struct WireSuggestion: Content {
        var id: String
        var project: String
        var iteration: String
        var created: Date
        var predictions: [WirePrediction]
        var predictionUncertainty: Double
    }

    struct WireStoredSuggestion: Content {
        var width: Int
        var height: Int
        var resizedImageUri: String
        var thumbnailUri: String
        var originalImageUri: String
        var domain: String
        var id: String
        var project: String
        var iteration: String
        var created: Date
        var predictions: [WirePrediction]
        var predictionUncertainty: Double
    }

    struct WireQueryToken: Content {
        var tagIds: [String]?
        var threshold: Double?
        var session: String?
        var continuation: String?
        var maxCount: Int?
        var sortBy: String?
    }

    struct WireQuery: Content {
        var token: WireQueryToken
        var results: [WireStoredSuggestion]
    }

    struct WireTagFilter: Content {
        var tagIds: [String]?
        var threshold: Double?
    }

    private func service(_ req: Request) -> SuggestionService { SuggestionService(app: req.application, db: req.db) }

    private func wire(_ entries: [Suggestion.Entry], tags: [UUID: Tag]) -> [WirePrediction] {
        entries.sorted { $0.probability > $1.probability }.map { e in
            let tag = UUID(uuidString: e.tagID).flatMap { tags[$0] }
            let box = e.box.flatMap { b in b.count == 4 ? WireBoundingBox(NormalisedBox(left: b[0], top: b[1], width: b[2], height: b[3])) : nil }
            return WirePrediction(probability: e.probability, tagId: e.tagID, tagName: tag?.name ?? "", boundingBox: box, tagType: tag?.typeRaw)
        }
    }

    static func threshold(_ raw: Double?) throws -> Float {
        guard let raw else { return 0 }
        guard raw.isFinite, (0...1).contains(raw) else { throw CVError.badRequest("BadRequest", "threshold is a probability from 0 to 1.") }
        return Float(raw)
    }

    func suggest(req: Request) async throws -> [WireSuggestion] {
        let project = try await req.project()
        let it = try await service(req).iteration(project, id: req.query[String.self, at: "iterationId"])
        let ids = try ImagesController.uuids(req, "imageIds", max: 64)
        guard !ids.isEmpty else { throw CVError.badRequest("BadRequestRequiredParamIsNull", "imageIds is required (at most 64).") }
        var q = ImageQuery()
        q.ids = ids
        q.take = ids.count
        let images = try await ImageService(db: req.db).list(project: project, q)
        guard images.count == Set(ids).count else { throw CVError.badRequest("BadRequestInvalidIds", "An image id is not in this project.") }
        let found = try await service(req).suggestions(project: project, iteration: it, images: images, account: req.account)
        let tags = try await ImageService(db: req.db).projectTags(project)
        let p = project.id!.uuidString.lowercased(), i = it.id!.uuidString.lowercased()
        // In the order asked for.
        let byID = Dictionary(uniqueKeysWithValues: images.map { ($0.id!, $0) })
        var seen = Set<UUID>()
        return ids.filter { seen.insert($0).inserted }.compactMap { byID[$0] }.compactMap { img in
            found[img.id!].map { s in
                WireSuggestion(id: img.id!.uuidString.lowercased(), project: p, iteration: i, created: s.createdAt,
                               predictions: wire(s.predictions, tags: tags), predictionUncertainty: s.uncertainty)
            }
        }
    }

    func query(req: Request) async throws -> WireQuery {
        let project = try await req.project()
        let it = try await service(req).iteration(project, id: req.query[String.self, at: "iterationId"])
        let token = (req.body.data?.readableBytes ?? 0) > 0 ? try req.wireBody(WireQueryToken.self) : WireQueryToken()
        let maxCount = token.maxCount ?? 50
        guard (1...256).contains(maxCount) else { throw CVError.badRequest("BadRequest", "maxCount is 1 to 256.") }
        let offset: Int
        if let c = token.continuation, !c.isEmpty {
            guard let n = Int(c), (0...ImagesController.maxSkip).contains(n) else {
                throw CVError.badRequest("BadRequest", "continuation is the token a previous call returned.")
            }
            offset = n
        } else { offset = 0 }
        let sort = token.sortBy?.lowercased() ?? "uncertaintyascending"
        guard ["uncertaintyascending", "uncertaintydescending"].contains(sort) else {
            throw CVError.badRequest("BadRequest", "sortBy is UncertaintyAscending or UncertaintyDescending.")
        }
        guard (token.tagIds ?? []).count <= 20 else { throw CVError.badRequest("BadRequest", "At most 20 tagIds.") }
        let q = SuggestionService.Query(tagIDs: token.tagIds ?? [], threshold: try Self.threshold(token.threshold),
                                        descending: sort == "uncertaintydescending")
        let matched = try await service(req).matching(project: project, iteration: it, account: req.account, q)
        let page = matched.dropFirst(offset).prefix(maxCount)
        let tags = try await ImageService(db: req.db).projectTags(project)
        let signer = req.application.blobSigner, base = req.application.settings.publicURL
        let p = project.id!.uuidString.lowercased(), i = it.id!.uuidString.lowercased(), domain = it.domainID.uuidString.lowercased()
        var next = token
        next.continuation = offset + page.count < matched.count ? String(offset + page.count) : nil
        next.maxCount = maxCount
        return WireQuery(token: next, results: page.map { img, s, hits in
            WireStoredSuggestion(width: img.width, height: img.height, resizedImageUri: signer.url(hash: img.resizedHash, base: base),
                                 thumbnailUri: signer.url(hash: img.thumbnailHash, base: base),
                                 originalImageUri: signer.url(hash: img.originalHash, base: base), domain: domain,
                                 id: img.id!.uuidString.lowercased(), project: p, iteration: i, created: s.createdAt,
                                 predictions: wire(hits, tags: tags), predictionUncertainty: s.uncertainty)
        })
    }

    /// Per tag, how many untagged images its suggestion reaches the threshold on.
    func count(req: Request) async throws -> [String: Int] {
        let project = try await req.project()
        let it = try await service(req).iteration(project, id: req.query[String.self, at: "iterationId"])
        let filter = (req.body.data?.readableBytes ?? 0) > 0 ? try req.wireBody(WireTagFilter.self) : WireTagFilter()
        let tags = try await ImageService(db: req.db).projectTags(project)
        let asked = filter.tagIds ?? []
        guard asked.count <= 100 else { throw CVError.badRequest("BadRequest", "At most 100 tagIds.") }
        var wanted: [String] = []
        for t in (asked.isEmpty ? tags.keys.map { $0.uuidString } : asked).map({ $0.lowercased() }) where !wanted.contains(t) { wanted.append(t) }
        let matched = try await service(req).matching(project: project, iteration: it, account: req.account,
                                                      .init(tagIDs: wanted, threshold: try Self.threshold(filter.threshold)))
        var out = Dictionary(uniqueKeysWithValues: wanted.map { ($0, 0) })
        for (_, _, hits) in matched { for tag in Set(hits.map(\.tagID)) where out[tag] != nil { out[tag]! += 1 } }
        return out
    }
}
