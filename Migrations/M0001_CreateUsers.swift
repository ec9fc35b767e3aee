import Fluent

public struct M0001_CreateUsers: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("users")
            .id()
            .field("email", .string, .required)
            .field("password_hash", .string, .required)
            .field("is_admin", .bool, .required)
            .field("created_at", .datetime)
            .unique(on: "email")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("users").delete() }
}
