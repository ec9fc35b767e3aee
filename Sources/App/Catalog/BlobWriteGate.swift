import Fluent
import Foundation
import SQLKit

/// Orders writes and deletions of blobs in a store that has no atomic rename (S3), through
/// one row per blob in the shared database. A writer records the write before it checks
/// or uploads the bytes; a removal marks the row with its own token, checks references,
/// then deletes the object in the same transaction that deletes its mark. A write recorded
/// at any moment of that overwrites the mark (the removal gives up) or waits on the
/// deleting transaction's lock (and then uploads the bytes again).
///
/// Times are the database's (`clock_timestamp()`), so nodes whose clocks differ agree on
/// how old a write is. PostgreSQL only: an object store is for nodes sharing one.
struct BlobWriteGate: Sendable {
    let db: Database
    static let now = "extract(epoch from clock_timestamp())"

    private var sql: SQLDatabase { db as! SQLDatabase }

    /// Records that `hashes` are being written now.
    func recordWrites(_ hashes: [String]) async throws {
        // One statement per blob, in a fixed order, so two writers never wait on each other in a circle.
        try await db.transaction { tx in
            let sql = tx as! SQLDatabase
            for hash in Set(hashes).sorted() {
                try await sql.raw("""
                    INSERT INTO blob_writes (hash, written_at, removal) VALUES (\(bind: hash), \(unsafeRaw: Self.now), NULL) \
                    ON CONFLICT (hash) DO UPDATE SET written_at = excluded.written_at, removal = NULL
                    """).run()
            }
        }
    }

    /// Removes a blob with `delete` unless it was written within `grace` or `isReferenced`
    /// finds a row that names it; true when it went.
    func remove(_ hash: String, grace: TimeInterval, isReferenced: @Sendable (String) async throws -> Bool,
                delete: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        let token = UUID().uuidString
        // 1. The mark, unless a write is recent.
        let marked = try await sql.raw("""
            INSERT INTO blob_writes (hash, written_at, removal) VALUES (\(bind: hash), \(unsafeRaw: Self.now), \(bind: token)) \
            ON CONFLICT (hash) DO UPDATE SET written_at = excluded.written_at, removal = excluded.removal \
            WHERE blob_writes.written_at < \(unsafeRaw: Self.now) - \(bind: grace) OR blob_writes.removal IS NOT NULL \
            RETURNING hash
            """).all()
        guard !marked.isEmpty else { return false }
        // 2. References: a row that commits after this check recorded its write after the mark.
        guard try await !isReferenced(hash) else {
            try await clear(hash, token: token)
            return false
        }
        // 3. The object goes while this transaction holds the mark's row.
        return try await db.transaction { tx in
            let gone = try await (tx as! SQLDatabase).raw("""
                DELETE FROM blob_writes WHERE hash = \(bind: hash) AND removal = \(bind: token) RETURNING hash
                """).all()
            guard !gone.isEmpty else { return false }
            try await delete()
            return true
        }
    }

    private func clear(_ hash: String, token: String) async throws {
        try await sql.raw("DELETE FROM blob_writes WHERE hash = \(bind: hash) AND removal = \(bind: token)").run()
    }

    /// Forgets writes older than `age` (their blobs' own times say as much by then) and the
    /// marks of removals that stopped.
    func prune(olderThan age: TimeInterval) async throws {
        try await sql.raw("DELETE FROM blob_writes WHERE written_at < \(unsafeRaw: Self.now) - \(bind: age)").run()
    }
}
