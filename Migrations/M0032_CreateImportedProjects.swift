import Fluent

/// Which project an `import-customvision` run made from which source project, so a run
/// started again after an interruption fills the same project instead of a second one.
public struct M0032_CreateImportedProjects: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("imported_projects")
            .id()
            .field("account_id", .uuid, .required, .references("accounts", "id", onDelete: .cascade))
            .field("project_id", .uuid, .required, .references("projects", "id", onDelete: .cascade))
            .field("source_endpoint", .string, .required)
            .field("source_project_id", .string, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "account_id", "source_endpoint", "source_project_id")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("imported_projects").delete() }
}
