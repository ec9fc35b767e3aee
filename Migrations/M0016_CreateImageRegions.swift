import Fluent

/// Regions are normalised to the displayed image: left, top, width, height in 0…1.
public struct M0016_CreateImageRegions: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("image_regions")
            .id()
            .field("image_id", .uuid, .required, .references("images", "id", onDelete: .cascade))
            .field("tag_id", .uuid, .required, .references("tags", "id", onDelete: .cascade))
            .field("project_id", .uuid, .required)
            .field("left", .double, .required)
            .field("top", .double, .required)
            .field("width", .double, .required)
            .field("height", .double, .required)
            .field("created_at", .datetime, .required)
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("image_regions").delete() }
}
