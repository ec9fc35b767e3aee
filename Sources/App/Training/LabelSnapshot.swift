import Crypto
import Fluent
import Foundation
import SQLKit

/// What a training request checks and fingerprints, read as narrow rows: each labelled
/// image's original hash, its tags within the selection, and (detection) its boxes.
struct LabelSnapshot {
    var tagsByImage: [UUID: Set<UUID>] = [:]
    /// Detection: each image's boxes as "tag@left,top,width,height".
    var regionPrint: [UUID: [String]] = [:]
    var originalHash: [UUID: String] = [:]

    static func read(project: UUID, detection: Bool, selected: Set<UUID>?, on db: Database) async throws -> LabelSnapshot {
        let sql = db as! SQLDatabase
        var s = LabelSnapshot()
        if detection {
            // Detection learns from regions; an image's tags are its regions' tags.
            let rows = try await sql.raw("""
                SELECT r.image_id, r.tag_id, r."left", r."top", r.width, r.height, i.original_hash
                FROM image_regions r JOIN images i ON i.id = r.image_id WHERE r.project_id = \(bind: project)
                """).all()
            for row in rows {
                let tag = try row.decode(column: "tag_id", as: UUID.self)
                guard selected?.contains(tag) ?? true else { continue }
                let image = try row.decode(column: "image_id", as: UUID.self)
                let box = try ["left", "top", "width", "height"].map { try row.decode(column: $0, as: Double.self) }
                s.tagsByImage[image, default: []].insert(tag)
                s.regionPrint[image, default: []].append("\(tag.uuidString)@\(box[0]),\(box[1]),\(box[2]),\(box[3])")
                s.originalHash[image] = try row.decode(column: "original_hash", as: String.self)
            }
        } else {
            let rows = try await sql.raw("""
                SELECT l.image_id, l.tag_id, i.original_hash FROM image_tags l JOIN images i ON i.id = l.image_id
                WHERE l.project_id = \(bind: project)
                """).all()
            for row in rows {
                let tag = try row.decode(column: "tag_id", as: UUID.self)
                guard selected?.contains(tag) ?? true else { continue }
                let image = try row.decode(column: "image_id", as: UUID.self)
                s.tagsByImage[image, default: []].insert(tag)
                s.originalHash[image] = try row.decode(column: "original_hash", as: String.self)
            }
        }
        return s
    }

    /// What training would learn from; equal fingerprints mean nothing changed.
    func fingerprint(domain: UUID, classificationType: String?) -> String {
        var text = "\(domain)|\(classificationType ?? "")\n"  // tags outside a selection are already filtered out
        for (image, hash) in originalHash.sorted(by: { $0.value < $1.value }) {
            text += hash + ":" + (tagsByImage[image] ?? []).map { $0.uuidString }.sorted().joined(separator: ",")
                + (regionPrint[image]?.sorted().joined(separator: ";") ?? "") + "\n"
        }
        return SHA256.hash(data: Data(text.utf8)).hex
    }
}
