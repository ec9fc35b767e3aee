import Fluent
import SQLKit

/// The v2 API's default iteration: the one `…/v2.0/Prediction/{projectId}/image` uses when
/// no `iterationId` is given (v2 made an iteration default where v3 publishes it).
public struct M0034_DefaultIteration: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await (db as! SQLDatabase).raw("ALTER TABLE iterations ADD COLUMN is_default BOOLEAN NOT NULL DEFAULT FALSE").run()
    }
    public func revert(on db: Database) async throws {
        try await db.schema("iterations").deleteField("is_default").update()
    }
}
