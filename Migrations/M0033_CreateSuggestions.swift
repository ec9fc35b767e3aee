import Fluent

/// Smart labeling's suggestions: what an iteration predicts for an image, computed once
/// (an iteration's model never changes) and kept until the iteration or the image goes.
public struct M0033_CreateSuggestions: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("suggestions")
            .id()
            .field("iteration_id", .uuid, .required, .references("iterations", "id", onDelete: .cascade))
            .field("image_id", .uuid, .required, .references("images", "id", onDelete: .cascade))
            .field("predictions_json", .string, .required)
            .field("uncertainty", .double, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "iteration_id", "image_id")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("suggestions").delete() }
}
