import Fluent

/// Counters the QuotaLedger increments atomically. `scope` names the counter, e.g.
/// `projects`, `tags/<project id>`, `predictions/2026-11`.
public struct M0006_CreateQuotaUsage: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("quota_usage")
            .id()
            .field("account_id", .uuid, .required, .references("accounts", "id", onDelete: .cascade))
            .field("scope", .string, .required)
            .field("used", .int, .required)
            .unique(on: "account_id", "scope")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("quota_usage").delete() }
}
