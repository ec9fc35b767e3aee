import Fluent
import SQLKit

/// The portal's imports from Custom Vision, in the database so that any node serves their
/// pages: each run's report (written by the node running it, with a heartbeat) and a
/// cancel request any node may set; and the short-lived lists of a source's projects
/// (its training key sealed).
public struct M0039_ImportRuns: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        let sql = db as! SQLDatabase
        try await sql.raw("""
            CREATE TABLE IF NOT EXISTS import_runs (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, account_id TEXT NOT NULL, \
            endpoint TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL, heartbeat_at DOUBLE PRECISION NOT NULL, \
            report TEXT NOT NULL, finished INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0)
            """).run()
        // One unfinished run per user, whichever node starts it.
        try await sql.raw("CREATE UNIQUE INDEX IF NOT EXISTS import_runs_unfinished ON import_runs (user_id) WHERE finished = 0").run()
        try await sql.raw("""
            CREATE TABLE IF NOT EXISTS import_listings (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, endpoint TEXT NOT NULL, \
            sealed_key TEXT NOT NULL, projects TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)
            """).run()
    }
    public func revert(on db: Database) async throws {
        let sql = db as! SQLDatabase
        try await sql.raw("DROP TABLE IF EXISTS import_listings").run()
        try await sql.raw("DROP TABLE IF EXISTS import_runs").run()
    }
}
