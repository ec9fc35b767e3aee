import Fluent
import SQLKit

/// Indexes for answering image listings, counts and tag filters in the database: the image
/// tags and regions of a project by tag and by image, and an iteration's recorded images in
/// creation order. (The project's images in creation order: M0037.)
public struct M0036_ImageListingIndexes: AsyncMigration {
    static let indexes = [
        ("image_tags_project_tag", "image_tags", "project_id, tag_id, image_id"),
        ("image_tags_project_image", "image_tags", "project_id, image_id"),
        ("image_regions_image", "image_regions", "image_id"),
        ("image_regions_project_tag", "image_regions", "project_id, tag_id, image_id"),
        ("image_regions_project_image", "image_regions", "project_id, image_id"),
        ("training_set_images_iteration_created", "training_set_images", "iteration_id, created_at, image_id"),
    ]
    public init() {}
    public func prepare(on db: Database) async throws {
        let sql = db as! SQLDatabase
        for (name, table, columns) in Self.indexes {
            try await sql.raw("CREATE INDEX IF NOT EXISTS \(unsafeRaw: name) ON \(unsafeRaw: table) (\(unsafeRaw: columns))").run()
        }
    }
    public func revert(on db: Database) async throws {
        let sql = db as! SQLDatabase
        for (name, _, _) in Self.indexes { try await sql.raw("DROP INDEX IF EXISTS \(unsafeRaw: name)").run() }
    }
}
