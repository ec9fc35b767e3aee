import Fluent
import Foundation
import SQLKit

/// The Training API's stored-prediction query, answered in the database: iteration, time
/// window and per-tag probability ranges (every one must hold, read from the stored
/// results' JSON), in creation order, a page at a time.
struct StoredPredictionQuery {
    struct TagRange {
        var tagID: String, min: Double, max: Double
        /// The stored JSON holds each probability as its Float's shortest decimal; a threshold
        /// written the same way compares in SQL as the two Floats would.
        init(tagID: String, min: Float, max: Float) {
            self.tagID = tagID
            self.min = Double("\(min)") ?? Double(min)
            self.max = Double("\(max)") ?? Double(max)
        }
    }
    var iteration: UUID?
    var start: Date?
    var end: Date?
    var tags: [TagRange] = []
    var newestFirst = true

    /// Up to `count` rows after `offset`, and whether more follow.
    func page(project: UUID, offset: Int, count: Int, on db: Database) async throws -> (rows: [StoredPrediction], more: Bool) {
        let sql = db as! SQLDatabase
        let postgres = sql.dialect.name == "postgresql"
        var parts: [SQLQueryString] = ["predictions.project_id = \(bind: project)"]
        if let iteration { parts.append("predictions.iteration_id = \(bind: iteration)") }
        if let start { parts.append("predictions.created_at >= \(bind: start)") }
        if let end { parts.append("predictions.created_at <= \(bind: end)") }
        for t in tags {
            parts.append(postgres
                ? "EXISTS (SELECT 1 FROM jsonb_array_elements(predictions.results_json::jsonb) e WHERE e.value ->> 'tagId' = \(bind: t.tagID)"
                    + " AND (e.value ->> 'probability')::float8 BETWEEN \(bind: t.min) AND \(bind: t.max))"
                : "EXISTS (SELECT 1 FROM json_each(predictions.results_json) e WHERE json_extract(e.value, '$.tagId') = \(bind: t.tagID)"
                    + " AND json_extract(e.value, '$.probability') BETWEEN \(bind: t.min) AND \(bind: t.max))")
        }
        let order: SQLQueryString = newestFirst ? "predictions.created_at DESC, predictions.id DESC" : "predictions.created_at ASC, predictions.id ASC"
        let rows = try await sql.raw("SELECT predictions.* FROM predictions WHERE " + parts.joined(separator: " AND ")
            + " ORDER BY " + order + " LIMIT \(literal: count + 1) OFFSET \(literal: offset)").all()
        let decoded = try rows.map { try $0.decode(fluentModel: StoredPrediction.self) }
        return (Array(decoded.prefix(count)), decoded.count > count)
    }
}
