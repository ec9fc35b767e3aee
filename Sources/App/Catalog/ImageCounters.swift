import Fluent
import Foundation
import SQLKit

/// How many images a project has, and how many carry each tag: `projects.image_count` and
/// `tags.image_count` plus the changes the triggers have appended since the last fold
/// (M0037). Reading costs the pending changes, not the images; a read that finds many
/// pending folds them in.
struct ImageCounters {
    let db: Database
    /// Pending changes past which a read folds them in.
    static let foldAfter = 2_000

    private var sql: SQLDatabase { db as! SQLDatabase }

    /// Per tag of the project that has at least one image.
    func tags(project: UUID) async throws -> [UUID: Int] {
        let rows = try await sql.raw("""
            SELECT t.id, t.image_count + COALESCE(SUM(c.delta), 0) AS n, COUNT(c.seq) AS pending
            FROM tags t LEFT JOIN count_changes c ON c.owner = t.id
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
    func tag(_ tag: UUID, project: UUID) async throws -> Int {
        try await sql.raw("""
            SELECT t.image_count + COALESCE((SELECT SUM(c.delta) FROM count_changes c WHERE c.owner = t.id), 0) AS n
            FROM tags t WHERE t.id = \(bind: tag) AND t.project_id = \(bind: project)
            """).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// The project's images.
    func images(project: UUID) async throws -> Int {
        try await images(projects: [project])[project] ?? 0
    }

    /// Each project's images (projects that do not exist are absent).
    func images(projects: [UUID]) async throws -> [UUID: Int] {
        guard !projects.isEmpty else { return [:] }
        let rows = try await sql.raw("""
            SELECT p.id, p.image_count + COALESCE(SUM(c.delta), 0) AS n, COUNT(c.seq) AS pending
            FROM projects p LEFT JOIN count_changes c ON c.owner = p.id
            WHERE p.id IN (\(binds: projects.map { $0 as any Encodable & Sendable })) GROUP BY p.id, p.image_count
            """).all()
        var out: [UUID: Int] = [:], pending = 0
        for row in rows {
            pending += try row.decode(column: "pending", as: Int.self)
            out[try row.decode(column: "id", as: UUID.self)] = try row.decode(column: "n", as: Int.self)
        }
        if pending > Self.foldAfter { try await fold() }
        return out
    }

    /// Moves every pending change into its tag or project, atomically. On PostgreSQL one
    /// fold runs at a time (an advisory lock; a second finds it taken and leaves); SQLite
    /// has one writer anyway. Changes of deleted tags and projects fold into nothing.
    func fold() async throws {
        try await db.writeTransaction { tx in
            let sql = tx as! SQLDatabase
            if sql.dialect.name == "postgresql" {
                let got = try await sql.raw("SELECT pg_try_advisory_xact_lock(\(literal: Self.foldLock)) AS got").first()?.decode(column: "got", as: Bool.self)
                guard got == true else { return }
                try await sql.raw("""
                    WITH moved AS (DELETE FROM count_changes RETURNING owner, delta),
                      sums AS (SELECT owner, SUM(delta) AS d FROM moved GROUP BY owner),
                      tagged AS (UPDATE tags SET image_count = tags.image_count + sums.d FROM sums WHERE tags.id = sums.owner)
                    UPDATE projects SET image_count = projects.image_count + sums.d FROM sums WHERE projects.id = sums.owner
                    """).run()
            } else {
                for table in ["tags", "projects"] {
                    try await sql.raw("""
                        UPDATE \(unsafeRaw: table) SET image_count = image_count
                          + (SELECT SUM(c.delta) FROM count_changes c WHERE c.owner = \(unsafeRaw: table).id)
                        WHERE id IN (SELECT owner FROM count_changes)
                        """).run()
                }
                try await sql.raw("DELETE FROM count_changes").run()
            }
        }
    }

    private static let foldLock = 0x5347_4c54  // any constant the application uses for nothing else
}
