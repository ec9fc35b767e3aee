import Fluent
import SQLKit

/// When each blob was last written to a shared object store, and which sweep is removing
/// it: a store without an atomic rename decides deletions against these rows.
public struct M0038_BlobWrites: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        let sql = db as! SQLDatabase
        try await sql.raw("""
            CREATE TABLE IF NOT EXISTS blob_writes (hash TEXT PRIMARY KEY, written_at DOUBLE PRECISION NOT NULL, removal TEXT)
            """).run()
    }
    public func revert(on db: Database) async throws {
        try await (db as! SQLDatabase).raw("DROP TABLE IF EXISTS blob_writes").run()
    }
}
