import Fluent
import SQLKit

/// What each iteration trained on, as it was when training was asked for: every image of
/// the project with its tags and regions (JSON, within the iteration's tag selection), and
/// the tags. Image and tag rows are copies, not references, so later edits leave them be;
/// the image hashes keep their blobs alive until the iteration goes.
public struct M0030_CreateTrainingSets: AsyncMigration {
    static let indexes = [
        ("training_set_images_iteration", "training_set_images", "iteration_id"),
        ("training_set_images_original_hash", "training_set_images", "original_hash"),
        ("training_set_images_resized_hash", "training_set_images", "resized_hash"),
        ("training_set_images_thumbnail_hash", "training_set_images", "thumbnail_hash"),
        ("training_set_tags_iteration", "training_set_tags", "iteration_id"),
    ]
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("training_set_images")
            .id()
            .field("iteration_id", .uuid, .required, .references("iterations", "id", onDelete: .cascade))
            .field("image_id", .uuid, .required)
            .field("project_id", .uuid, .required)
            .field("original_hash", .string, .required)
            .field("resized_hash", .string, .required)
            .field("thumbnail_hash", .string, .required)
            .field("format", .string, .required)
            .field("width", .int, .required)
            .field("height", .int, .required)
            .field("metadata_json", .string, .required)
            .field("created_at", .datetime, .required)
            .field("tags_json", .string, .required)
            .field("regions_json", .string, .required)
            .create()
        try await db.schema("training_set_tags")
            .id()
            .field("iteration_id", .uuid, .required, .references("iterations", "id", onDelete: .cascade))
            .field("tag_id", .uuid, .required)
            .field("name", .string, .required)
            .field("description", .string, .required)
            .field("type", .string, .required)
            .field("created_at", .datetime)
            .create()
        let sql = db as! SQLDatabase
        for (name, table, column) in Self.indexes {
            try await sql.raw("CREATE INDEX IF NOT EXISTS \(unsafeRaw: name) ON \(unsafeRaw: table) (\(unsafeRaw: column))").run()
        }
    }
    public func revert(on db: Database) async throws {
        try await db.schema("training_set_tags").delete()
        try await db.schema("training_set_images").delete()
    }
}
