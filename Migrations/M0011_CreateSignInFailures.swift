import Fluent

/// Failed sign-ins, keyed by `email:<address>` and `client:<ip>`, counted in a window.
public struct M0011_CreateSignInFailures: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("sign_in_failures")
            .id()
            .field("key", .string, .required)
            .field("at", .datetime, .required)
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("sign_in_failures").delete() }
}
