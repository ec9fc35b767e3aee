import Foundation
import SQLKit

/// Listing filters shared by get_images, the tagged/untagged lists, their counts and the
/// portal's gallery, answered by the database: over the project's images (`ImageService`,
/// `condition`, `order`) or an iteration's recorded set (`TrainingSetQueries`).
struct ImageQuery {
    enum Tagging: String { case all = "All", tagged = "Tagged", untagged = "Untagged" }
    var tagIDs: [UUID] = []
    var tagging: Tagging = .all
    var filter: MetadataFilter?
    var newestFirst = true
    var take = 50
    var skip = 0
    var ids: [UUID]?
    /// A page this far in visits most of a tag's images anyway: the tag's index drives it.
    var deepFrom = 1_000

    /// The WHERE condition over `images` (unaliased) for `project`. `visitsMost` (a count, a
    /// deep page) picks the tag-filter form that reads the tag's index once, rather than
    /// probing image by image in creation order, which is cheaper for the first pages.
    func condition(project: UUID, postgres: Bool, visitsMost: Bool = false) -> SQLQueryString {
        var parts: [SQLQueryString] = ["images.project_id = \(bind: project)"]
        if let ids { parts.append(ids.isEmpty ? "1 = 0" : "images.id IN (\(binds: ids.map { $0 as any Encodable & Sendable }))") }
        // `label_count` is kept by triggers on image_tags and image_regions (M0037).
        switch tagging {
        case .all: break
        case .tagged: parts.append("images.label_count > 0")
        case .untagged: parts.append("images.label_count = 0")
        }
        if !tagIDs.isEmpty { parts.append(Self.carries(tagIDs, project: project, visitsMost: visitsMost || skip >= deepFrom)) }
        if let filter { parts.append(Self.sql(filter, postgres: postgres)) }
        return parts.joined(separator: " AND ")
    }

    /// ORDER BY terms: creation, then id, so that paging is stable.
    var order: SQLQueryString {
        newestFirst ? "images.created_at DESC, images.id DESC" : "images.created_at ASC, images.id ASC"
    }

    /// Rows that come before `image` in this order (`before`), or after it.
    func beyond(_ image: ImageRecord, before: Bool) -> SQLQueryString {
        let later = newestFirst == before
        let op = later ? ">" : "<"
        return "(images.created_at \(unsafeRaw: op) \(bind: image.createdAt)"
            + " OR (images.created_at = \(bind: image.createdAt) AND images.id \(unsafeRaw: op) \(bind: image.id!)))"
    }

    /// Images that carry one of `tags`, by an image tag or a region.
    private static func carries(_ tags: [UUID], project: UUID, visitsMost: Bool) -> SQLQueryString {
        let list: SQLQueryString = "\(binds: tags.map { $0 as any Encodable & Sendable })"
        if visitsMost {
            // One pass over the tag's index entries, not a probe per image of the project.
            return "images.id IN (SELECT l.image_id FROM image_tags l WHERE l.project_id = \(bind: project) AND l.tag_id IN (" + list + ")"
                + " UNION ALL SELECT r.image_id FROM image_regions r WHERE r.project_id = \(bind: project) AND r.tag_id IN (" + list + "))"
        }
        // Probes in creation order, stopping at the page's end.
        return "(EXISTS (SELECT 1 FROM image_tags l WHERE l.image_id = images.id AND l.tag_id IN (" + list + "))"
            + " OR EXISTS (SELECT 1 FROM image_regions r WHERE r.image_id = images.id AND r.tag_id IN (" + list + ")))"
    }

    /// A metadata filter as SQL: PostgreSQL reads the JSON with `->>`; SQLite looks the pair
    /// up with `json_each`, which takes any key literally (its `->>` reads `$`-keys as paths).
    static func sql(_ f: MetadataFilter, postgres: Bool) -> SQLQueryString {
        switch f {
        case .compare(let key, let equal, let value):
            let has: SQLQueryString = postgres
                ? "((images.metadata_json::jsonb ->> \(bind: key)) IS NOT DISTINCT FROM \(bind: value))"
                : "EXISTS (SELECT 1 FROM json_each(images.metadata_json) m WHERE m.key = \(bind: key) AND m.value = \(bind: value))"
            return equal ? has : "NOT " + has
        case .and(let a, let b): return "(" + sql(a, postgres: postgres) + " AND " + sql(b, postgres: postgres) + ")"
        case .or(let a, let b): return "(" + sql(a, postgres: postgres) + " OR " + sql(b, postgres: postgres) + ")"
        }
    }
}
