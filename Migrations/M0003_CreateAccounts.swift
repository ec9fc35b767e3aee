import Fluent

public struct M0003_CreateAccounts: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("accounts")
            .id()
            .field("owner_id", .uuid, .required, .references("users", "id"))
            .field("name", .string, .required)
            .field("resource_name", .string, .required)
            .field("tier_code", .string, .required)
            // Set to owner_id only for F0 accounts: the unique index allows one F0 per user.
            .field("free_owner_id", .uuid)
            .field("created_at", .datetime)
            .unique(on: "resource_name")
            .unique(on: "free_owner_id")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("accounts").delete() }
}
