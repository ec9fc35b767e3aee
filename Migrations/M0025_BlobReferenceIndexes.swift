import Fluent
import SQLKit

/// Indexes for "does any row still use this blob?", asked when a blob is served and
/// before one is deleted.
public struct M0025_BlobReferenceIndexes: AsyncMigration {
    static let indexes = [
        ("images_original_hash", "images", "original_hash"), ("images_resized_hash", "images", "resized_hash"),
        ("images_thumbnail_hash", "images", "thumbnail_hash"), ("iterations_model_hash", "iterations", "model_hash"),
        ("predictions_blob_hash", "predictions", "blob_hash"), ("exports_blob_hash", "exports", "blob_hash"),
    ]
    public init() {}
    public func prepare(on db: Database) async throws {
        let sql = db as! SQLDatabase
        for (name, table, column) in Self.indexes {
            try await sql.raw("CREATE INDEX IF NOT EXISTS \(unsafeRaw: name) ON \(unsafeRaw: table) (\(unsafeRaw: column))").run()
        }
    }
    public func revert(on db: Database) async throws {
        let sql = db as! SQLDatabase
        for (name, _, _) in Self.indexes { try await sql.raw("DROP INDEX IF EXISTS \(unsafeRaw: name)").run() }
    }
}
