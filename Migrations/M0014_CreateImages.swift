import Fluent

/// Images of a project. Blobs are content-addressed: `original_hash` is the SHA-256 of
/// the uploaded bytes (unique per project, so re-uploads are OKDuplicate).
public struct M0014_CreateImages: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("images")
            .id()
            .field("project_id", .uuid, .required, .references("projects", "id", onDelete: .cascade))
            .field("original_hash", .string, .required)
            .field("resized_hash", .string, .required)
            .field("thumbnail_hash", .string, .required)
            .field("format", .string, .required)
            .field("width", .int, .required)
            .field("height", .int, .required)
            .field("metadata_json", .string, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "project_id", "original_hash")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("images").delete() }
}
