import Fluent
import Foundation

/// Tag, untag or delete a selection of images (the portal's bulk actions, up to a whole
/// project), a chunk at a time so that no statement outgrows the database's limit on
/// bound values.
struct ImageSelectionService {
    let db: Database
    static let chunk = 500

    struct Tagged { var created = 0, duplicated = 0, skipped = 0, exceeded = 0 }

    /// The ids among `ids` that are images of `project`, in their given order.
    func own(project: Project, ids: [UUID]) async throws -> [UUID] {
        var found = Set<UUID>()
        for part in Self.chunks(Array(Set(ids))) {
            found.formUnion(try await ImageRecord.query(on: db).filter(\.$projectID == project.id!).filter(\.$id ~~ part).all().compactMap(\.id))
        }
        var seen = Set<UUID>()
        return ids.filter { found.contains($0) && seen.insert($0).inserted }
    }

    /// Adds `tag` to each image. A multiclass project keeps one tag per image: an image that
    /// already carries another is skipped.
    func tag(project: Project, tag: UUID, ids: [UUID]) async throws -> Tagged {
        var out = Tagged()
        let images = ImageService(db: db)
        for part in Self.chunks(ids) {
            var targets = part
            if project.classificationType == "Multiclass" {
                let other = Set(try await ImageTagLink.query(on: db).filter(\.$imageID ~~ part).filter(\.$tagID != tag).all().map(\.imageID))
                targets = part.filter { !other.contains($0) }
                out.skipped += part.count - targets.count
            }
            guard !targets.isEmpty else { continue }
            let r = try await images.addTags(project: project, pairs: targets.map { .init(imageId: $0.uuidString, tagId: tag.uuidString) })
            out.created += r.created.count; out.duplicated += r.duplicated.count; out.exceeded += r.exceeded.count
        }
        return out
    }

    /// Removes `tag` from each image; how many had it.
    func untag(project: Project, tag: UUID, ids: [UUID]) async throws -> Int {
        var had = 0
        for part in Self.chunks(ids) {
            had += try await ImageTagLink.query(on: db).filter(\.$imageID ~~ part).filter(\.$tagID == tag).count()
            try await ImageService(db: db).removeTags(project: project, imageIDs: part, tagIDs: [tag])
        }
        return had
    }

    /// Deletes the images; the blobs they used, for `BlobSweeper.freeLater`.
    func delete(account: Account, project: Project, ids: [UUID]) async throws -> Set<String> {
        var freed = Set<String>()
        for part in Self.chunks(ids) { freed.formUnion(try await ImageService(db: db).delete(account: account, project: project, ids: part)) }
        return freed
    }

    private static func chunks(_ ids: [UUID]) -> [[UUID]] {
        stride(from: 0, to: ids.count, by: chunk).map { Array(ids[$0..<min($0 + chunk, ids.count)]) }
    }
}
