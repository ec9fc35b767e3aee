import Fluent
import Foundation
import Vapor

struct WireImageTag: Content {
    var tagId: String
    @NullEncoded var tagName: String?
    var created: Date
}

struct WireImageRegion: Content {
    var regionId: String
    @NullEncoded var tagName: String?
    var created: Date
    var tagId: String
    var left: Double
    var top: Double
    var width: Double
    var height: Double

    init(_ r: ImageRegion, tagName: String?) {
        regionId = r.id!.uuidString.lowercased(); self.tagName = tagName; created = r.createdAt
        tagId = r.tagID.uuidString.lowercased(); left = r.left; top = r.top; width = r.width; height = r.height
    }
}

struct WireImage: Content {
    var id: String
    var created: Date
    var width: Int
    var height: Int
    var resizedImageUri: String
    var thumbnailUri: String
    var originalImageUri: String
    var tags: [WireImageTag]?
    var regions: [WireImageRegion]?
    var metadata: [String: String]?

    /// Wire images for rows, with their tags and regions fetched in two queries.
    static func make(_ rows: [ImageRecord], req: Request) async throws -> [WireImage] {
        let ids = rows.compactMap(\.id)
        guard !ids.isEmpty else { return [] }
        let projectIDs = Array(Set(rows.map(\.projectID)))
        let tags = Dictionary(try await Tag.query(on: req.db).filter(\.$projectID ~~ projectIDs).all().map { ($0.id!, $0.name) },
                              uniquingKeysWith: { a, _ in a })
        var links: [UUID: [ImageTagLink]] = [:]
        for l in try await ImageTagLink.query(on: req.db).filter(\.$imageID ~~ ids).sort(\.$createdAt).all() { links[l.imageID, default: []].append(l) }
        var regions: [UUID: [ImageRegion]] = [:]
        for r in try await ImageRegion.query(on: req.db).filter(\.$imageID ~~ ids).sort(\.$createdAt).all() { regions[r.imageID, default: []].append(r) }
        return make(rows, links: links, regions: regions, tagNames: tags, req: req)
    }

    /// Wire images of an iteration's training set: tags, regions and names as recorded.
    static func make(_ rows: [ImageRecord], from set: TrainingSet, req: Request) -> [WireImage] {
        make(rows, links: set.links, regions: set.regions,
             tagNames: Dictionary(set.tags.map { ($0.id!, $0.name) }, uniquingKeysWith: { a, _ in a }), req: req)
    }

    private static func make(_ rows: [ImageRecord], links: [UUID: [ImageTagLink]], regions: [UUID: [ImageRegion]],
                             tagNames tags: [UUID: String], req: Request) -> [WireImage] {
        let signer = req.application.blobSigner
        let base = req.application.settings.publicURL
        return rows.map { img in
            let id = img.id!
            let t = links[id] ?? [], r = regions[id] ?? []
            let meta = img.metadata
            return WireImage(
                id: id.uuidString.lowercased(), created: img.createdAt, width: img.width, height: img.height,
                resizedImageUri: signer.url(hash: img.resizedHash, base: base),
                thumbnailUri: signer.url(hash: img.thumbnailHash, base: base),
                originalImageUri: signer.url(hash: img.originalHash, base: base),
                tags: t.isEmpty ? nil : t.map { WireImageTag(tagId: $0.tagID.uuidString.lowercased(), tagName: tags[$0.tagID], created: $0.createdAt) },
                regions: r.isEmpty ? nil : r.map { WireImageRegion($0, tagName: tags[$0.tagID]) },
                metadata: meta.isEmpty ? nil : meta)
        }
    }
}

struct WireImageCreateResult: Content {
    var sourceUrl: String?
    var status: String
    var image: WireImage?
}

struct WireImageCreateSummary: Content {
    var isBatchSuccessful: Bool
    var images: [WireImageCreateResult]
}

struct WireImageFileCreateEntry: Content {
    var name: String?
    var contents: Data?
    var tagIds: [String]?
    var regions: [RegionBox]?
}

struct WireImageFileCreateBatch: Content {
    var images: [WireImageFileCreateEntry]?
    var tagIds: [String]?
    var metadata: [String: String]?
}

struct WireImageUrlCreateEntry: Content {
    var url: String?
    var tagIds: [String]?
    var regions: [RegionBox]?
}

struct WireImageUrlCreateBatch: Content {
    var images: [WireImageUrlCreateEntry]?
    var tagIds: [String]?
    var metadata: [String: String]?
}

struct WireImageTagCreateBatch: Content { var tags: [ImageService.TagPair]? }
struct WireImageTagCreateSummary: Content {
    var created: [ImageService.TagPair]
    var duplicated: [ImageService.TagPair]
    var exceeded: [ImageService.TagPair]
}

struct WireImageRegionCreateBatch: Content { var regions: [ImageService.RegionEntry]? }
struct WireImageRegionCreateResult: Content {
    var imageId: String
    var regionId: String
    @NullEncoded var tagName: String?
    var created: Date
    var tagId: String
    var left: Double
    var top: Double
    var width: Double
    var height: Double
}
struct WireImageRegionCreateSummary: Content {
    var created: [WireImageRegionCreateResult]
    var duplicated: [ImageService.RegionEntry]
    var exceeded: [ImageService.RegionEntry]
}

struct WireImageMetadataUpdateEntry: Content {
    var imageId: String
    var status: String
    var metadata: [String: String]?
}
struct WireImageMetadataUpdateSummary: Content {
    var isBatchSuccessful: Bool
    var images: [WireImageMetadataUpdateEntry]
}

extension Response {
    /// 200 when every entry succeeded, 207 (Multi-Status) otherwise.
    static func batch<T: Content>(_ body: T, allOK: Bool, for req: Request) async throws -> Response {
        let res = try await body.encodeResponse(for: req)
        res.status = allOK ? .ok : .multiStatus
        return res
    }
}
