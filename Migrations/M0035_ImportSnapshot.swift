import Fluent

/// `import_project` copies a project as it was when exported: the import job keeps the
/// token's issue time, and copies the tags and images that existed then.
public struct M0035_ImportSnapshot: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("jobs").field("snapshot_at", .datetime).update()
    }
    public func revert(on db: Database) async throws {
        try await db.schema("jobs").deleteField("snapshot_at").update()
    }
}
