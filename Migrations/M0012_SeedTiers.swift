import Fluent
import Foundation

/// One tier as written in `config/tiers.json`. `nil` limits are unlimited.
public struct TierSeed: Codable, Sendable {
    public var code: String
    public var name: String
    public var projects: Int?
    public var tagsPerProject: Int?
    public var imagesPerProject: Int?
    public var iterationsPerProject: Int?
    public var predictionsPerMonth: Int?
    public var transactionsPerSecond: Int?
    /// Added by M0022; read there, so M0012 (already run on old databases) stays as it was.
    public var storedPredictionsPerProject: Int?
    /// Added by M0029, read there.
    public var trainingTransactionsPerSecond: Int?
    public var objectDetection: Bool
}

/// Seeds the tier catalogue once; afterwards admins edit tiers in the database.
public struct M0012_SeedTiers: AsyncMigration {
    let tiers: [TierSeed]
    public init(tiers: [TierSeed]) { self.tiers = tiers }
    public func prepare(on db: Database) async throws {
        for t in tiers {
            let row = TierRow()
            row.code = t.code; row.name = t.name; row.projects = t.projects
            row.tagsPerProject = t.tagsPerProject; row.imagesPerProject = t.imagesPerProject
            row.iterationsPerProject = t.iterationsPerProject
            row.predictionsPerMonth = t.predictionsPerMonth
            row.transactionsPerSecond = t.transactionsPerSecond
            row.objectDetection = t.objectDetection
            try await row.create(on: db)
        }
    }
    public func revert(on db: Database) async throws { try await db.query(TierRow.self).delete() }

    /// Migration-private view of the table, so this target does not depend on App.
    final class TierRow: Model, @unchecked Sendable {
        static let schema = "tiers"
        @ID(key: .id) var id: UUID?
        @Field(key: "code") var code: String
        @Field(key: "name") var name: String
        @OptionalField(key: "projects") var projects: Int?
        @OptionalField(key: "tags_per_project") var tagsPerProject: Int?
        @OptionalField(key: "images_per_project") var imagesPerProject: Int?
        @OptionalField(key: "iterations_per_project") var iterationsPerProject: Int?
        @OptionalField(key: "predictions_per_month") var predictionsPerMonth: Int?
        @OptionalField(key: "transactions_per_second") var transactionsPerSecond: Int?
        @Field(key: "object_detection") var objectDetection: Bool
        init() {}
    }
}
