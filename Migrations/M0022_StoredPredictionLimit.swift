import Fluent
import SQLKit

/// The tier limit on stored predictions per project (quick tests store by default), its
/// seeded values, and an index for keeping each project's newest predictions.
public struct M0022_StoredPredictionLimit: AsyncMigration {
    let tiers: [TierSeed]
    public init(tiers: [TierSeed]) { self.tiers = tiers }

    public func prepare(on db: Database) async throws {
        try await db.schema("tiers").field("stored_predictions_per_project", .int).update()
        let sql = db as! SQLDatabase
        for t in tiers {
            try await sql.raw("UPDATE tiers SET stored_predictions_per_project = \(bind: t.storedPredictionsPerProject) WHERE code = \(bind: t.code)").run()
        }
        try await sql.raw("CREATE INDEX IF NOT EXISTS predictions_project_created ON predictions (project_id, created_at)").run()
    }

    public func revert(on db: Database) async throws {
        try await (db as! SQLDatabase).raw("DROP INDEX IF EXISTS predictions_project_created").run()
        try await db.schema("tiers").deleteField("stored_predictions_per_project").update()
    }
}
