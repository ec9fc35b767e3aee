import Fluent

/// `name_key` (lower-cased name) keeps names unique per project; `exclusive_type`
/// is set only for Negative and GeneralProduct so each exists at most once.
public struct M0008_CreateTags: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("tags")
            .id()
            .field("project_id", .uuid, .required, .references("projects", "id", onDelete: .cascade))
            .field("name", .string, .required)
            .field("name_key", .string, .required)
            .field("description", .string, .required)
            .field("type", .string, .required)
            .field("exclusive_type", .string)
            .field("created_at", .datetime)
            .unique(on: "project_id", "name_key")
            .unique(on: "project_id", "exclusive_type")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("tags").delete() }
}
