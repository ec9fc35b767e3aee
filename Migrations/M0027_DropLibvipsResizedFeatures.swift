import Fluent
import SQLKit

/// The resize to network input became PIL's (what Custom Vision's export samples run)
/// instead of libvips' own, which aligned enlarged images differently. Features computed
/// with the old resize are cached under view numbers below 200 and no job reads them any
/// more: they go, and the next training recomputes them.
public struct M0027_DropLibvipsResizedFeatures: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await (db as! SQLDatabase).raw("DELETE FROM features WHERE \"view\" < 200").run()
    }
    /// Nothing to restore: dropped features are recomputed on demand.
    public func revert(on db: Database) async throws {}
}
