import Fluent

public struct M0009_CreateAdminTokens: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("admin_tokens")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("token_hash", .string, .required)
            .field("created_at", .datetime)
            .unique(on: "token_hash")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("admin_tokens").delete() }
}
