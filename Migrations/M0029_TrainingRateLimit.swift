import Fluent
import SQLKit

/// The tier limit on Training API calls per second, seeded from `config/tiers.json` for the
/// tiers it names (Azure documents 10 for F0 and S0); other tiers stay unlimited.
public struct M0029_TrainingRateLimit: AsyncMigration {
    let tiers: [TierSeed]
    public init(tiers: [TierSeed]) { self.tiers = tiers }

    public func prepare(on db: Database) async throws {
        try await db.schema("tiers").field("training_transactions_per_second", .int).update()
        let sql = db as! SQLDatabase
        for t in tiers {
            try await sql.raw("UPDATE tiers SET training_transactions_per_second = \(bind: t.trainingTransactionsPerSecond) WHERE code = \(bind: t.code)").run()
        }
    }

    public func revert(on db: Database) async throws {
        try await db.schema("tiers").deleteField("training_transactions_per_second").update()
    }
}
