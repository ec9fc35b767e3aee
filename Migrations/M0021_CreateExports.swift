import Fluent

/// Exports of trained iterations, and the job column that points an export job at one.
public struct M0021_CreateExports: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("exports")
            .id()
            .field("iteration_id", .uuid, .required, .references("iterations", "id", onDelete: .cascade))
            .field("project_id", .uuid, .required)
            .field("platform", .string, .required)
            .field("flavor", .string, .required)
            .field("status", .string, .required)
            .field("blob_hash", .string)
            .field("error", .string)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime)
            .unique(on: "iteration_id", "platform", "flavor")
            .create()
        try await db.schema("jobs").field("export_id", .uuid).update()
    }
    public func revert(on db: Database) async throws {
        try await db.schema("jobs").deleteField("export_id").update()
        try await db.schema("exports").delete()
    }
}
