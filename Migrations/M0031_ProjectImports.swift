import Fluent
import SQLKit

/// `import_project`: a project's status (Succeeded, Importing or Failed) and the import
/// job's target and source projects.
public struct M0031_ProjectImports: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        // Raw, for the default that fills the existing rows (the same SQL on SQLite and PostgreSQL).
        try await (db as! SQLDatabase).raw("ALTER TABLE projects ADD COLUMN status TEXT NOT NULL DEFAULT 'Succeeded'").run()
        try await db.schema("jobs").field("project_id", .uuid).update()
        try await db.schema("jobs").field("source_project_id", .uuid).update()
    }
    public func revert(on db: Database) async throws {
        try await db.schema("jobs").deleteField("source_project_id").update()
        try await db.schema("jobs").deleteField("project_id").update()
        try await db.schema("projects").deleteField("status").update()
    }
}
