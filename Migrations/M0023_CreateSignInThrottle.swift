import Fluent

/// Token buckets for sign-in and sign-up attempts, one row per (email, client) pair or
/// client; taken with one conditional UPDATE so concurrent attempts cannot overdraw them.
public struct M0023_CreateSignInThrottle: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("sign_in_throttle")
            .field("key", .string, .identifier(auto: false))
            .field("tokens", .double, .required)
            .field("updated_at", .double, .required)
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("sign_in_throttle").delete() }
}
