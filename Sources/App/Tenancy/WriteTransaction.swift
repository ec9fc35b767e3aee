import Fluent
import SQLKit

extension Database {
    /// A transaction that takes SQLite's write lock before its first read. Two SQLite
    /// transactions that each read and then write would otherwise deadlock, and SQLite
    /// answers one of them with SQLITE_BUSY at once; this way they queue. PostgreSQL
    /// transactions are unaffected.
    func writeTransaction<T: Sendable>(_ body: @escaping @Sendable (Database) async throws -> T) async throws -> T {
        try await transaction { tx in
            if let sql = tx as? SQLDatabase, sql.dialect.name == "sqlite" {
                // A write statement starts SQLite's write transaction even when it changes no row.
                try await sql.raw("UPDATE quota_usage SET used = used WHERE 0 = 1").run()
            }
            return try await body(tx)
        }
    }
}
