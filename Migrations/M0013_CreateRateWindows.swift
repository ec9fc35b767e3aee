import Fluent

/// Per-account request counters in one-second windows, shared by every server process.
public struct M0013_CreateRateWindows: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("rate_windows")
            .id()
            .field("account_id", .uuid, .required, .references("accounts", "id", onDelete: .cascade))
            .field("kind", .string, .required)
            .field("window_start", .int64, .required)
            .field("count", .int, .required)
            .unique(on: "account_id", "kind", "window_start")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("rate_windows").delete() }
}
