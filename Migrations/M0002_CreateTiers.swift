import Fluent

/// Tier limits are nullable columns: NULL means unlimited.
public struct M0002_CreateTiers: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("tiers")
            .id()
            .field("code", .string, .required)
            .field("name", .string, .required)
            .field("projects", .int)
            .field("tags_per_project", .int)
            .field("images_per_project", .int)
            .field("iterations_per_project", .int)
            .field("predictions_per_month", .int)
            .field("transactions_per_second", .int)
            .field("object_detection", .bool, .required)
            .unique(on: "code")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("tiers").delete() }
}
