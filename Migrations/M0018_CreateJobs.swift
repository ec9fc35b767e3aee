import Fluent

/// The persistent job queue the EnginePool works from.
public struct M0018_CreateJobs: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("jobs")
            .id()
            .field("kind", .string, .required)
            .field("iteration_id", .uuid, .required)
            .field("state", .string, .required)
            .field("attempts", .int, .required)
            .field("claimed_by", .string)
            .field("heartbeat_at", .datetime)
            .field("error", .string)
            .field("created_at", .datetime, .required)
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("jobs").delete() }
}
