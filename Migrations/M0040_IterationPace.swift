import Fluent

/// How fast a training goes while it runs: images per second through the backbone, and
/// when it is expected to end.
public struct M0040_IterationPace: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("iterations").field("images_per_second", .double).update()
        try await db.schema("iterations").field("estimated_end", .datetime).update()
    }
    public func revert(on db: Database) async throws {
        try await db.schema("iterations").deleteField("estimated_end").update()
        try await db.schema("iterations").deleteField("images_per_second").update()
    }
}
