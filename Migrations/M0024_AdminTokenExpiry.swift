import Fluent

/// Admin tokens end: an expiry set when issued, and a revocation time.
public struct M0024_AdminTokenExpiry: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("admin_tokens").field("expires_at", .datetime).update()
        try await db.schema("admin_tokens").field("revoked_at", .datetime).update()
    }
    public func revert(on db: Database) async throws {
        try await db.schema("admin_tokens").deleteField("revoked_at").update()
        try await db.schema("admin_tokens").deleteField("expires_at").update()
    }
}
