import Fluent

/// Stored predictions (kept 30 days).
public struct M0020_CreatePredictions: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("predictions")
            .id()
            .field("project_id", .uuid, .required, .references("projects", "id", onDelete: .cascade))
            .field("iteration_id", .uuid, .required)
            .field("blob_hash", .string, .required)
            .field("results_json", .string, .required)
            .field("created_at", .datetime, .required)
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("predictions").delete() }
}
