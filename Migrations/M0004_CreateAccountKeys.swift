import Fluent

/// Keys are stored only as SHA-256 hashes plus a four-character hint for the UI.
public struct M0004_CreateAccountKeys: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("account_keys")
            .id()
            .field("account_id", .uuid, .required, .references("accounts", "id", onDelete: .cascade))
            .field("kind", .string, .required)
            .field("slot", .int, .required)
            .field("key_hash", .string, .required)
            .field("hint", .string, .required)
            .field("created_at", .datetime)
            .unique(on: "key_hash")
            .unique(on: "account_id", "kind", "slot")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("account_keys").delete() }
}
