import Fluent

/// One row per (account, limit). `value` NULL means "unlimited" for this account.
public struct M0005_CreateAccountOverrides: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("account_overrides")
            .id()
            .field("account_id", .uuid, .required, .references("accounts", "id", onDelete: .cascade))
            .field("limit_name", .string, .required)
            .field("value", .int)
            .unique(on: "account_id", "limit_name")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("account_overrides").delete() }
}
