import Fluent

/// Trained (or training) models of a project. `model_hash` names the serialised head in
/// the BlobStore; `metrics_json` keeps the cross-validated scores for any threshold.
public struct M0017_CreateIterations: AsyncMigration {
    public init() {}
    public func prepare(on db: Database) async throws {
        try await db.schema("iterations")
            .id()
            .field("project_id", .uuid, .required, .references("projects", "id", onDelete: .cascade))
            .field("number", .int, .required)
            .field("name", .string, .required)
            .field("status", .string, .required)
            .field("training_type", .string, .required)
            .field("budget_hours", .int, .required)
            .field("domain_id", .uuid, .required)
            .field("classification_type", .string)
            .field("fingerprint", .string, .required)
            .field("selected_tags", .string)
            .field("progress", .int, .required)
            .field("publish_name", .string)
            .field("prediction_account_id", .uuid)
            .field("prediction_resource_id", .string)
            .field("model_hash", .string)
            .field("metrics_json", .string)
            .field("error_details", .string)
            .field("training_seconds", .double)
            .field("trained_at", .datetime)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "project_id", "number")
            .unique(on: "project_id", "publish_name")
            .create()
    }
    public func revert(on db: Database) async throws { try await db.schema("iterations").delete() }
}
