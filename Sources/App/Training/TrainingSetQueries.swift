import Fluent
import Foundation
import SQLKit

/// Image and tag queries that name an `iterationId`, answered in the database from the
/// iteration's recorded training set (`training_set_images`, whose tags and regions are
/// JSON): the same filters, order and paging as the project's own (`ImageQuery`).
struct TrainingSetQueries {
    let db: Database
    private var sql: SQLDatabase { db as! SQLDatabase }
    private var postgres: Bool { sql.dialect.name == "postgresql" }

    /// The tags the iteration trained on, by creation; nil when it has no recorded set.
    func tags(iteration: UUID) async throws -> [Tag]? {
        let tags = try await TrainedTag.query(on: db).filter(\.$iterationID == iteration).all().map(\.tag)
            .sorted { ($0.createdAt ?? .distantPast, $0.id!.uuidString) < ($1.createdAt ?? .distantPast, $1.id!.uuidString) }
        if !tags.isEmpty { return tags }
        return try await TrainedImage.query(on: db).filter(\.$iterationID == iteration).first() == nil ? nil : []
    }

    /// One page of the set's images that match `q`, with their tags and regions as recorded.
    func page(iteration: UUID, _ q: ImageQuery) async throws -> TrainingSet {
        let rows = try await sql.raw("SELECT images.* FROM training_set_images AS images WHERE " + condition(iteration: iteration, q)
            + " ORDER BY " + order(q) + " LIMIT \(literal: q.take) OFFSET \(literal: q.skip)").all()
        var set = TrainingSet(tags: try await tags(iteration: iteration) ?? [], images: [], links: [:], regions: [:])
        for row in try rows.map({ try $0.decode(fluentModel: TrainedImage.self) }) {
            set.images.append(row.image)
            let l = row.links, r = row.regions
            if !l.isEmpty { set.links[row.imageID] = l }
            if !r.isEmpty { set.regions[row.imageID] = r }
        }
        return set
    }

    func count(iteration: UUID, _ q: ImageQuery) async throws -> Int {
        try await sql.raw("SELECT COUNT(*) AS n FROM training_set_images AS images WHERE " + condition(iteration: iteration, q))
            .first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Images per tag in the set (by a recorded tag or region).
    func imageCounts(iteration: UUID) async throws -> [UUID: Int] {
        let labels: SQLQueryString = postgres
            ? """
              SELECT upper(j.value ->> 'tagId') AS tag, images.image_id FROM training_set_images AS images, json_array_elements(images.tags_json::json) j
              WHERE images.iteration_id = \(bind: iteration)
              UNION ALL SELECT upper(j.value ->> 'tagId'), images.image_id FROM training_set_images AS images, json_array_elements(images.regions_json::json) j
              WHERE images.iteration_id = \(bind: iteration)
              """
            : """
              SELECT upper(json_extract(j.value, '$.tagId')) AS tag, images.image_id FROM training_set_images AS images, json_each(images.tags_json) j
              WHERE images.iteration_id = \(bind: iteration)
              UNION ALL SELECT upper(json_extract(j.value, '$.tagId')), images.image_id FROM training_set_images AS images, json_each(images.regions_json) j
              WHERE images.iteration_id = \(bind: iteration)
              """
        let rows = try await sql.raw("SELECT tag, COUNT(DISTINCT image_id) AS n FROM (" + labels + ") AS labels GROUP BY tag").all()
        var out: [UUID: Int] = [:]
        for row in rows {
            if let tag = UUID(uuidString: try row.decode(column: "tag", as: String.self)) { out[tag] = try row.decode(column: "n", as: Int.self) }
        }
        return out
    }

    private func order(_ q: ImageQuery) -> SQLQueryString {
        q.newestFirst ? "images.created_at DESC, images.image_id DESC" : "images.created_at ASC, images.image_id ASC"
    }

    /// The filters over the set's rows (aliased `images`, so the metadata filter's SQL is shared).
    private func condition(iteration: UUID, _ q: ImageQuery) -> SQLQueryString {
        var parts: [SQLQueryString] = ["images.iteration_id = \(bind: iteration)"]
        if let ids = q.ids { parts.append(ids.isEmpty ? "1 = 0" : "images.image_id IN (\(binds: ids.map { $0 as any Encodable & Sendable }))") }
        let labelled: SQLQueryString = "(images.tags_json <> '[]' OR images.regions_json <> '[]')"
        switch q.tagging {
        case .all: break
        case .tagged: parts.append(labelled)
        case .untagged: parts.append("NOT " + labelled)
        }
        if !q.tagIDs.isEmpty {
            // Recorded ids are upper case from SQLite and Swift, lower case from PostgreSQL.
            let wanted: SQLQueryString = "\(binds: q.tagIDs.map { $0.uuidString.uppercased() as any Encodable & Sendable })"
            func carries(_ column: String) -> SQLQueryString {
                postgres
                    ? "EXISTS (SELECT 1 FROM json_array_elements(images.\(unsafeRaw: column)::json) j WHERE upper(j.value ->> 'tagId') IN (" + wanted + "))"
                    : "EXISTS (SELECT 1 FROM json_each(images.\(unsafeRaw: column)) j WHERE upper(json_extract(j.value, '$.tagId')) IN (" + wanted + "))"
            }
            parts.append("(" + carries("tags_json") + " OR " + carries("regions_json") + ")")
        }
        if let filter = q.filter { parts.append(ImageQuery.sql(filter, postgres: postgres)) }
        return parts.joined(separator: " AND ")
    }
}
