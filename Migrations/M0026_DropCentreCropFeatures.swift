import Fluent
import SQLKit

/// Classifiers now train on whole-image views (Custom Vision's framing, which its
/// exported models' clients use) and cache them under view numbers from 100. The rows
/// below 100 are centre-crop features that no job reads any more: they go, and the next
/// training of each project computes its images' whole-image features afresh.
public struct M0026_DropCentreCropFeatures: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await (db as! SQLDatabase).raw("DELETE FROM features WHERE \"view\" < 100").run()
    }
    /// Nothing to restore: dropped features are recomputed on demand.
    public func revert(on db: Database) async throws {}
}
