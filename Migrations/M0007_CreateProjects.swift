import Fluent

public struct M0007_CreateProjects: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("projects")
            .id()
            .field("account_id", .uuid, .required, .references("accounts", "id"))
            .field("name", .string, .required)
            .field("description", .string, .required)
            .field("domain_id", .uuid, .required)
            .field("project_type", .string, .required)
            .field("classification_type", .string)
            .field("target_export_platforms", .string, .required)
            .field("settings_json", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("projects").delete() }
}
