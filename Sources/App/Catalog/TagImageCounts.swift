import Fluent
import Foundation
import SQLKit

/// How many images carry each tag: `tags.image_count` plus the changes the label triggers
/// have appended since the last fold (M0037). Reading costs the tags and the pending
/// changes, not the images; a read that finds many pending folds them in.
struct TagImageCounts {
    let db: Database
    /// Pending changes past which a read folds them into the tags.
    static let foldAfter = 2_000

    private var sql: SQLDatabase { db as! SQLDatabase }

    /// Per tag of the project with at least one image.
    func of(project: UUID) async throws -> [UUID: Int] {
        let rows = try await sql.raw("""
            SELECT t.id, t.image_count + COALESCE(SUM(c.delta), 0) AS n, COUNT(c.seq) AS pending
            FROM tags t LEFT JOIN tag_count_changes c ON c.tag_id = t.id
            WHERE t.project_id = \(bind: project) GROUP BY t.id, t.image_count
            """).all()
        var out: [UUID: Int] = [:], pending = 0
        for row in rows {
            pending += try row.decode(column: "pending", as: Int.self)
            let n = try row.decode(column: "n", as: Int.self)
            if n > 0 { out[try row.decode(column: "id", as: UUID.self)] = n }
        }
        if pending > Self.foldAfter { try await fold() }
        return out
    }

    /// One tag of the project (0 when it is not the project's).
    func of(tag: UUID, project: UUID) async throws -> Int {
        try await sql.raw("""
            SELECT t.image_count + COALESCE((SELECT SUM(c.delta) FROM tag_count_changes c WHERE c.tag_id = t.id), 0) AS n
            FROM tags t WHERE t.id = \(bind: tag) AND t.project_id = \(bind: project)
            """).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Moves every pending change into `tags.image_count`, atomically. On PostgreSQL one
    /// fold runs at a time (an advisory lock; a second finds it taken and leaves); SQLite
    /// has one writer anyway.
    func fold() async throws {
        try await db.writeTransaction { tx in
            let sql = tx as! SQLDatabase
            if sql.dialect.name == "postgresql" {
                let got = try await sql.raw("SELECT pg_try_advisory_xact_lock(\(literal: Self.foldLock)) AS got").first()?.decode(column: "got", as: Bool.self)
                guard got == true else { return }
                try await sql.raw("""
                    WITH moved AS (DELETE FROM tag_count_changes RETURNING tag_id, delta)
                    UPDATE tags SET image_count = tags.image_count + s.d
                    FROM (SELECT tag_id, SUM(delta) AS d FROM moved GROUP BY tag_id) s WHERE tags.id = s.tag_id
                    """).run()
            } else {
                try await sql.raw("""
                    UPDATE tags SET image_count = image_count + (SELECT SUM(c.delta) FROM tag_count_changes c WHERE c.tag_id = tags.id)
                    WHERE id IN (SELECT tag_id FROM tag_count_changes)
                    """).run()
                try await sql.raw("DELETE FROM tag_count_changes").run()
            }
        }
    }

    private static let foldLock = 0x5347_4c54  // any constant the application uses for nothing else
}
