import Fluent

public struct M0010_CreateAuditLog: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("audit_log")
            .id()
            .field("actor_id", .uuid, .required)
            .field("actor_email", .string, .required)
            .field("action", .string, .required)
            .field("target", .string, .required)
            .field("before_json", .string)
            .field("after_json", .string)
            .field("at", .datetime, .required)
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("audit_log").delete() }
}
