import Fluent
import Foundation
import Vapor

/// Fills a project made by `import_project` from the project its token exported, as it was
/// when the token was issued (tags and images made since are not copied): tags, then images in chunks (blob hashes shared, not copied) with their tags, regions and
/// metadata, each chunk paying the target's image quota. A retried job skips what an
/// earlier attempt copied (tags by name, images by content hash). Ends with the project's
/// status Succeeded, or Failed when the source went away or the target's quota ran out.
struct ProjectImportJob {
    let app: Application
    let job: Job

    struct Cancelled: Error {}
    struct Failure: Error, CustomStringConvertible { let description: String }

    static let chunk = 200
    var db: Database { app.db }

    func run() async throws {
        guard let targetID = job.projectID, let target = try await Project.find(targetID, on: db) else { throw Cancelled() }
        guard let sourceID = job.sourceProjectID, let source = try await Project.find(sourceID, on: db) else {
            throw Failure(description: "The exported project was deleted before the import finished.")
        }
        guard let account = try await Account.find(target.accountID, on: db) else { throw Cancelled() }
        let tagMap = try await copyTags(from: source, to: target, account: account)
        let have = Set(try await ImageRecord.query(on: db).filter(\.$projectID == targetID).all().map(\.originalHash))
        var images = ImageRecord.query(on: db).filter(\.$projectID == sourceID)
        if let snapshot = job.snapshotAt { images = images.filter(\.$createdAt <= snapshot) }
        let pending = try await images.sort(\.$createdAt).sort(\.$id).all().filter { !have.contains($0.originalHash) }
        for start in stride(from: 0, to: pending.count, by: Self.chunk) {
            guard try await Job.find(job.id, on: db)?.state == "running" else { throw Cancelled() }
            try await copy(pending[start..<min(start + Self.chunk, pending.count)].compactMap(\.id), to: target, account: account, tags: tagMap)
        }
        try await Project.query(on: db).filter(\.$id == targetID).filter(\.$status == "Importing").set(\.$status, to: "Succeeded").update()
    }

    /// Source tag id → target tag id; tags an earlier attempt made are reused by name.
    private func copyTags(from source: Project, to target: Project, account: Account) async throws -> [UUID: UUID] {
        var tags = Tag.query(on: db).filter(\.$projectID == source.id!)
        if let snapshot = job.snapshotAt { tags = tags.filter(\.$createdAt <= snapshot) }
        let sourceTags = try await tags.sort(\.$createdAt).all()
        return try await db.writeTransaction { tx in
            var existing: [String: UUID] = [:]
            for t in try await Tag.query(on: tx).filter(\.$projectID == target.id!).all() { existing[t.nameKey] = t.id! }
            let missing = sourceTags.filter { existing[$0.nameKey] == nil }
            try await QuotaLedger.consume(.tagsPerProject, account: account, project: target.id, amount: missing.count, on: tx)
            var map: [UUID: UUID] = [:]
            for t in sourceTags {
                if let id = existing[t.nameKey] { map[t.id!] = id; continue }
                let copy = Tag()
                copy.projectID = target.id!; copy.setName(t.name); copy.description = t.description; copy.type = t.type
                try await copy.create(on: tx)
                map[t.id!] = copy.id!
            }
            return map
        }
    }

    private func copy(_ ids: [UUID], to target: Project, account: Account, tags: [UUID: UUID]) async throws {
        try await db.writeTransaction { tx in
            // Read again now: a source image deleted since the job listed it (its blob may be
            // freed) is not copied.
            let images = try await ImageRecord.query(on: tx).filter(\.$id ~~ ids).sort(\.$createdAt).sort(\.$id).all()
            guard !images.isEmpty else { return }
            let links = try await ImageTagLink.query(on: tx).filter(\.$imageID ~~ ids).all()
            let regions = try await ImageRegion.query(on: tx).filter(\.$imageID ~~ ids).all()
            do {
                try await QuotaLedger.consume(.imagesPerProject, account: account, project: target.id, amount: images.count, on: tx)
            } catch let e as QuotaLedger.Exceeded {
                throw Failure(description: "The target account's image limit (\(e.limit.map(String.init) ?? "none")) was reached during the import.")
            }
            var newID: [UUID: UUID] = [:]
            let copies = images.map { img -> ImageRecord in
                let c = ImageRecord()
                c.id = UUID(); newID[img.id!] = c.id
                c.projectID = target.id!; c.originalHash = img.originalHash; c.resizedHash = img.resizedHash
                c.thumbnailHash = img.thumbnailHash; c.format = img.format; c.width = img.width; c.height = img.height
                c.metadataJSON = img.metadataJSON; c.createdAt = img.createdAt
                return c
            }
            try await copies.create(on: tx)
            let linkCopies = links.compactMap { l -> ImageTagLink? in
                guard let image = newID[l.imageID], let tag = tags[l.tagID] else { return nil }
                return ImageTagLink(imageID: image, tagID: tag, projectID: target.id!, at: l.createdAt)
            }
            for part in stride(from: 0, to: linkCopies.count, by: Self.chunk) {
                try await linkCopies[part..<min(part + Self.chunk, linkCopies.count)].create(on: tx)
            }
            let regionCopies = regions.compactMap { r -> ImageRegion? in
                guard let image = newID[r.imageID], let tag = tags[r.tagID] else { return nil }
                let c = ImageRegion()
                c.imageID = image; c.tagID = tag; c.projectID = target.id!
                c.left = r.left; c.top = r.top; c.width = r.width; c.height = r.height; c.createdAt = r.createdAt
                return c
            }
            for part in stride(from: 0, to: regionCopies.count, by: Self.chunk) {
                try await regionCopies[part..<min(part + Self.chunk, regionCopies.count)].create(on: tx)
            }
        }
    }
}
