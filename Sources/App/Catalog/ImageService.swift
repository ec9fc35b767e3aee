import Fluent
import SQLKit
import Vapor

/// Images of one project: listing, deletion, tags, regions and metadata.
struct ImageService {
    let db: Database

    private var sql: SQLDatabase { db as! SQLDatabase }
    private var postgres: Bool { sql.dialect.name == "postgresql" }

    /// One page of the images that match `q`, in its order (`q.skip`, `q.take`). The page's
    /// ids are found first, so the rows skipped over are read from the index, not the table.
    func list(project: Project, _ q: ImageQuery) async throws -> [ImageRecord] {
        // Past the project's last image no filter finds anything: answered without a scan.
        if q.skip > 0, q.ids == nil, q.skip >= (try await ImageCounters(db: db).images(project: project.id!)) { return [] }
        let page: SQLQueryString = "SELECT images.id FROM images WHERE " + q.condition(project: project.id!, postgres: postgres)
            + " ORDER BY " + q.order + " LIMIT \(literal: q.take) OFFSET \(literal: q.skip)"
        let rows = try await sql.raw("SELECT images.* FROM images WHERE images.id IN (" + page + ") ORDER BY " + q.order).all()
        return try rows.map { try $0.decode(fluentModel: ImageRecord.self) }
    }

    func count(project: Project, _ q: ImageQuery) async throws -> Int {
        // One tag and nothing else: the tag's counter answers.
        if q.tagIDs.count == 1, q.tagging != .untagged, q.filter == nil, q.ids == nil {
            return try await ImageCounters(db: db).tag(q.tagIDs[0], project: project.id!)
        }
        // Nothing but the project: its counter answers.
        if q.tagIDs.isEmpty, q.tagging == .all, q.filter == nil, q.ids == nil {
            return try await ImageCounters(db: db).images(project: project.id!)
        }
        let row = try await sql.raw("SELECT COUNT(*) AS n FROM images WHERE " + q.condition(project: project.id!, postgres: postgres, visitsMost: true)).first()
        return try row?.decode(column: "n", as: Int.self) ?? 0
    }

    /// The ids of every image that matches `q`, in its order (for acting on a whole selection).
    func ids(project: Project, _ q: ImageQuery) async throws -> [UUID] {
        try await sql.raw("SELECT images.id FROM images WHERE " + q.condition(project: project.id!, postgres: postgres)
            + " ORDER BY " + q.order).all().map { try $0.decode(column: "id", as: UUID.self) }
    }

    /// Where `image` stands in the list `q` describes: its index (nil when the filter leaves
    /// it out), the list's length, and the images shown before and after it.
    struct Position { var index: Int?; var total: Int; var previous: UUID?; var next: UUID? }

    func position(of image: ImageRecord, project: Project, _ q: ImageQuery) async throws -> Position {
        let cond = q.condition(project: project.id!, postgres: postgres)
        func one(_ extra: SQLQueryString, _ order: SQLQueryString) async throws -> UUID? {
            try await sql.raw("SELECT images.id FROM images WHERE " + cond + " AND " + extra + " ORDER BY " + order + " LIMIT 1")
                .first()?.decode(column: "id", as: UUID.self)
        }
        var reversed = q
        reversed.newestFirst.toggle()
        let inList = try await one("images.id = \(bind: image.id!)", q.order) != nil
        let total = try await count(project: project, q)
        guard inList else { return Position(index: nil, total: total) }
        let before = try await sql.raw("SELECT COUNT(*) AS n FROM images WHERE " + cond + " AND " + q.beyond(image, before: true))
            .first()?.decode(column: "n", as: Int.self) ?? 0
        return Position(index: before, total: total,
                        previous: try await one(q.beyond(image, before: true), reversed.order),
                        next: try await one(q.beyond(image, before: false), q.order))
    }

    /// Deletes images with their tags and regions and gives their quota back; returns the
    /// blobs they used, for `BlobSweeper.freeLater` (other rows may still use them; the
    /// sweeper checks).
    @discardableResult
    func delete(account: Account, project: Project, ids: [UUID]?) async throws -> Set<String> {
        try await db.transaction { tx in
            _ = try await QuotaLedger.lock(.imagesPerProject, account: account, project: project.id, on: tx)
            var q = ImageRecord.query(on: tx).filter(\.$projectID == project.id!)
            if let ids { q = q.filter(\.$id ~~ ids) }
            let rows = try await q.field(\.$id).field(\.$originalHash).field(\.$resizedHash).field(\.$thumbnailHash).all()
            let rowIDs = rows.compactMap(\.id)
            guard !rowIDs.isEmpty else { return [] }
            try await Self.lockImages(project: project, ids: ids == nil ? nil : rowIDs, on: tx)
            // A whole project goes by its id: its images outnumber what one statement may bind.
            if ids == nil {
                try await ImageTagLink.query(on: tx).filter(\.$projectID == project.id!).delete()
                try await ImageRegion.query(on: tx).filter(\.$projectID == project.id!).delete()
                try await ImageRecord.query(on: tx).filter(\.$projectID == project.id!).delete()
            } else {
                try await ImageTagLink.query(on: tx).filter(\.$imageID ~~ rowIDs).delete()
                try await ImageRegion.query(on: tx).filter(\.$imageID ~~ rowIDs).delete()
                try await ImageRecord.query(on: tx).filter(\.$id ~~ rowIDs).delete()
            }
            try await QuotaLedger.release(.imagesPerProject, account: account, project: project.id, amount: rowIDs.count, on: tx)
            return Set(rows.flatMap { [$0.originalHash, $0.resizedHash, $0.thumbnailHash] })
        }
    }

    struct TagPair: Content, Hashable {
        var imageId: String
        var tagId: String
    }

    /// Adds tags to images: created, duplicated (already there) or exceeded (100 per image).
    func addTags(project: Project, pairs: [TagPair]) async throws -> (created: [TagPair], duplicated: [TagPair], exceeded: [TagPair]) {
        let tags = try await projectTags(project)
        let parsed = try pairs.map { p -> (TagPair, UUID, UUID) in
            guard let i = UUID(uuidString: p.imageId), let t = UUID(uuidString: p.tagId), tags[t] != nil else {
                throw CVError.badRequest("BadRequestInvalidIds", "Unknown image or tag id in \(p.imageId)/\(p.tagId).")
            }
            return (p, i, t)
        }
        let imageIDs = Array(Set(parsed.map(\.1)))
        let found = Set(try await ImageRecord.query(on: db).filter(\.$projectID == project.id!).filter(\.$id ~~ imageIDs).all().compactMap(\.id))
        guard found.count == imageIDs.count else { throw CVError.badRequest("BadRequestInvalidIds", "Unknown image id.") }
        return try await db.writeTransaction { tx in
            var current: [UUID: Set<UUID>] = [:]
            for l in try await ImageTagLink.query(on: tx).filter(\.$imageID ~~ imageIDs).all() { current[l.imageID, default: []].insert(l.tagID) }
            var created: [(Int, TagPair)] = [], duplicated: [(Int, TagPair)] = [], exceeded: [(Int, TagPair)] = []
            // Written in image order: the count triggers lock each image's row, and two
            // batches that lock the same images in the same order cannot deadlock.
            for (n, (pair, image, tag)) in Self.inImageOrder(parsed.enumerated().map { ($0.offset, $0.element) }, { $0.1.1 }) {
                var set = current[image, default: []]
                if set.contains(tag) { duplicated.append((n, pair)); continue }
                if set.count >= ImageIngestor.maxTagsPerImage { exceeded.append((n, pair)); continue }
                let types = Set((set.union([tag])).compactMap { tags[$0]?.type })
                if types.contains(.negative) && types.count > 1 {
                    throw CVError.badRequest("BadRequestNegativeAndRegularTagOnSameImage",
                                             "An image cannot have the Negative tag and another tag.")
                }
                // A concurrent batch may have added the same pair since `current` was read.
                let added = try await (tx as! SQLDatabase).raw("""
                    INSERT INTO image_tags (id, image_id, tag_id, project_id, created_at)
                    VALUES (\(bind: UUID()), \(bind: image), \(bind: tag), \(bind: project.id!), \(bind: Date()))
                    ON CONFLICT (image_id, tag_id) DO NOTHING RETURNING id
                    """).first()
                guard added != nil else { duplicated.append((n, pair)); continue }
                set.insert(tag)
                current[image] = set
                created.append((n, pair))
            }
            return (Self.inRequestOrder(created), Self.inRequestOrder(duplicated), Self.inRequestOrder(exceeded))
        }
    }

    func removeTags(project: Project, imageIDs: [UUID], tagIDs: [UUID]) async throws {
        try await db.writeTransaction { tx in
            try await Self.lockImages(project: project, ids: imageIDs, on: tx)
            try await ImageTagLink.query(on: tx).filter(\.$projectID == project.id!)
                .filter(\.$imageID ~~ imageIDs).filter(\.$tagID ~~ tagIDs).delete()
        }
    }

    struct RegionEntry: Content {
        var imageId: String
        var tagId: String
        var left: Double
        var top: Double
        var width: Double
        var height: Double
    }

    func addRegions(project: Project, entries: [RegionEntry]) async throws
        -> (created: [(RegionEntry, ImageRegion)], duplicated: [RegionEntry], exceeded: [RegionEntry]) {
        let tags = try await projectTags(project)
        for e in entries {
            let box = RegionBox(tagId: e.tagId, left: e.left, top: e.top, width: e.width, height: e.height)
            guard box.isValid else {
                throw CVError.badRequest("BadRequestImageRegions", "Regions are normalised boxes inside the image (left, top ≥ 0; width, height > 0; left+width, top+height ≤ 1).")
            }
            guard let t = UUID(uuidString: e.tagId), tags[t] != nil, UUID(uuidString: e.imageId) != nil else {
                throw CVError.badRequest("BadRequestInvalidIds", "Unknown image or tag id in \(e.imageId)/\(e.tagId).")
            }
        }
        let imageIDs = Array(Set(entries.compactMap { UUID(uuidString: $0.imageId) }))
        let found = Set(try await ImageRecord.query(on: db).filter(\.$projectID == project.id!).filter(\.$id ~~ imageIDs).all().compactMap(\.id))
        guard found.count == imageIDs.count else { throw CVError.badRequest("BadRequestInvalidIds", "Unknown image id.") }
        return try await db.writeTransaction { tx in
            var existing: [UUID: [ImageRegion]] = [:]
            for r in try await ImageRegion.query(on: tx).filter(\.$imageID ~~ imageIDs).all() { existing[r.imageID, default: []].append(r) }
            var created: [(Int, (RegionEntry, ImageRegion))] = [], duplicated: [(Int, RegionEntry)] = [], exceeded: [(Int, RegionEntry)] = []
            let numbered = entries.enumerated().map { ($0.offset, ($0.element, UUID(uuidString: $0.element.imageId)!)) }
            for (n, (e, image)) in Self.inImageOrder(numbered, { $0.1.1 }) {
                let tag = UUID(uuidString: e.tagId)!
                let list = existing[image, default: []]
                if list.contains(where: { $0.tagID == tag && abs($0.left - e.left) < 1e-9 && abs($0.top - e.top) < 1e-9
                    && abs($0.width - e.width) < 1e-9 && abs($0.height - e.height) < 1e-9 }) {
                    duplicated.append((n, e)); continue
                }
                if list.count >= ImageIngestor.maxRegionsPerImage { exceeded.append((n, e)); continue }
                let r = ImageRegion()
                r.imageID = image; r.tagID = tag; r.projectID = project.id!
                r.left = e.left; r.top = e.top; r.width = e.width; r.height = e.height; r.createdAt = Date()
                try await r.create(on: tx)
                existing[image, default: []].append(r)
                created.append((n, (e, r)))
            }
            return (Self.inRequestOrder(created), Self.inRequestOrder(duplicated), Self.inRequestOrder(exceeded))
        }
    }

    /// Sets an image's regions to exactly `boxes` (the portal's box editor saves this way;
    /// Custom Vision has no region update, so a move is a delete plus a create).
    func replaceRegions(project: Project, imageID: UUID, boxes: [RegionBox]) async throws -> [ImageRegion] {
        let tags = try await projectTags(project)
        guard boxes.count <= ImageIngestor.maxRegionsPerImage else {
            throw CVError.badRequest("BadRequestImageRegions", "At most \(ImageIngestor.maxRegionsPerImage) regions per image.")
        }
        for b in boxes {
            guard b.isValid else { throw CVError.badRequest("BadRequestImageRegions", "Regions are normalised boxes inside the image.") }
            guard let t = UUID(uuidString: b.tagId), tags[t] != nil else { throw CVError.badRequest("BadRequestInvalidIds", "Unknown tag id.") }
        }
        guard let img = try await ImageRecord.find(imageID, on: db), img.projectID == project.id else {
            throw CVError.notFound("NotFoundImage", "Image not found.")
        }
        return try await db.writeTransaction { tx in
            try await ImageRegion.query(on: tx).filter(\.$imageID == imageID).delete()
            var out: [ImageRegion] = []
            for b in boxes {
                let r = ImageRegion()
                r.imageID = imageID; r.tagID = UUID(uuidString: b.tagId)!; r.projectID = project.id!
                r.left = b.left; r.top = b.top; r.width = b.width; r.height = b.height; r.createdAt = Date()
                try await r.create(on: tx)
                out.append(r)
            }
            return out
        }
    }

    func removeRegions(project: Project, ids: [UUID]) async throws {
        try await db.writeTransaction { tx in
            let images = try await ImageRegion.query(on: tx).filter(\.$projectID == project.id!).filter(\.$id ~~ ids).all().map(\.imageID)
            try await Self.lockImages(project: project, ids: Array(Set(images)), on: tx)
            try await ImageRegion.query(on: tx).filter(\.$projectID == project.id!).filter(\.$id ~~ ids).delete()
        }
    }

    /// PostgreSQL: locks the images' rows in id order before a statement whose label triggers
    /// would lock them in its own scan order, so that two writers never wait on each other in
    /// a circle (`ids` nil: every image of the project). SQLite has one writer at a time.
    static func lockImages(project: Project, ids: [UUID]?, on tx: Database) async throws {
        guard let sql = tx as? SQLDatabase, sql.dialect.name == "postgresql" else { return }
        let which: SQLQueryString = ids.map { "id IN (\(binds: $0.map { $0 as any Encodable & Sendable }))" } ?? "project_id = \(bind: project.id!)"
        try await sql.raw("SELECT id FROM images WHERE " + which + " ORDER BY id FOR NO KEY UPDATE").run()
    }

    /// `lockImages` for the images that carry `tag` (before the tag is deleted).
    static func lockImages(carrying tag: UUID, on tx: Database) async throws {
        guard let sql = tx as? SQLDatabase, sql.dialect.name == "postgresql" else { return }
        try await sql.raw("""
            SELECT id FROM images WHERE id IN (SELECT image_id FROM image_tags WHERE tag_id = \(bind: tag)
              UNION SELECT image_id FROM image_regions WHERE tag_id = \(bind: tag)) ORDER BY id FOR NO KEY UPDATE
            """).run()
    }

    /// Merges metadata into each image: OK, ErrorImageNotFound or ErrorLimitExceed (over 50 pairs).
    func updateMetadata(project: Project, imageIDs: [String], metadata: [String: String]) async throws -> [(String, String, [String: String]?)] {
        try ImageIngestor.validate(metadata: metadata)
        return try await db.writeTransaction { tx in
            var out: [(String, String, [String: String]?)] = []
            for raw in imageIDs {
                guard let id = UUID(uuidString: raw), let img = try await ImageRecord.find(id, on: tx), img.projectID == project.id else {
                    out.append((raw, "ErrorImageNotFound", nil)); continue
                }
                let merged = img.metadata.merging(metadata) { _, new in new }
                guard merged.count <= 50 else { out.append((raw, "ErrorLimitExceed", img.metadata)); continue }
                img.metadata = merged
                try await img.save(on: tx)
                out.append((raw, "OK", merged))
            }
            return out
        }
    }

    func projectTags(_ project: Project) async throws -> [UUID: Tag] {
        Dictionary(try await Tag.query(on: db).filter(\.$projectID == project.id!).all().map { ($0.id!, $0) },
                   uniquingKeysWith: { a, _ in a })
    }

    /// Images per tag (by an image tag or a region), for Tag.imageCount.
    func imageCounts(project: Project) async throws -> [UUID: Int] {
        try await ImageCounters(db: db).tags(project: project.id!)
    }

    /// Numbered items sorted by their image's id (stable: one image's items keep their order).
    private static func inImageOrder<T>(_ items: [(Int, T)], _ image: ((Int, T)) -> UUID) -> [(Int, T)] {
        items.sorted { a, b in
            let x = image(a).uuidString, y = image(b).uuidString
            return x == y ? a.0 < b.0 : x < y
        }
    }

    private static func inRequestOrder<T>(_ items: [(Int, T)]) -> [T] { items.sorted { $0.0 < $1.0 }.map(\.1) }
}
