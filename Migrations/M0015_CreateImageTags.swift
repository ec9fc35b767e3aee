import Fluent

public struct M0015_CreateImageTags: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("image_tags")
            .id()
            .field("image_id", .uuid, .required, .references("images", "id", onDelete: .cascade))
            .field("tag_id", .uuid, .required, .references("tags", "id", onDelete: .cascade))
            .field("project_id", .uuid, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "image_id", "tag_id")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("image_tags").delete() }
}
