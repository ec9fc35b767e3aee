import Fluent

/// `CreateProjectOptions` (where Azure writes exported models and posts notifications),
/// kept per project and echoed in its settings.
public struct M0028_ProjectCreateOptions: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("projects").field("export_model_container_uri", .string).update()
        try await db.schema("projects").field("notification_queue_uri", .string).update()
    }
    public func revert(on db: Database) async throws {
        try await db.schema("projects").deleteField("notification_queue_uri").update()
        try await db.schema("projects").deleteField("export_model_container_uri").update()
    }
}
