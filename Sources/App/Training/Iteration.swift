import Fluent
import Vapor

final class Iteration: Model, @unchecked Sendable {
    static let schema = "iterations"
    @ID(key: .id) var id: UUID?
    @Field(key: "project_id") var projectID: UUID
    @Field(key: "number") var number: Int
    @Field(key: "name") var name: String
    /// Training, Completed or Failed.
    @Field(key: "status") var status: String
    @Field(key: "training_type") var trainingType: String
    @Field(key: "budget_hours") var budgetHours: Int
    @Field(key: "domain_id") var domainID: UUID
    @OptionalField(key: "classification_type") var classificationType: String?
    /// What the iteration was trained on; an unchanged project needs no new training.
    @Field(key: "fingerprint") var fingerprint: String
    /// Comma-joined tag ids the iteration is restricted to (`selectedTags`); nil = all.
    @OptionalField(key: "selected_tags") var selectedTags: String?
    @Field(key: "progress") var progress: Int
    /// The v2 API's default iteration (at most one per project).
    @Field(key: "is_default") var isDefault: Bool
    @OptionalField(key: "publish_name") var publishName: String?
    @OptionalField(key: "prediction_account_id") var predictionAccountID: UUID?
    @OptionalField(key: "prediction_resource_id") var predictionResourceID: String?
    @OptionalField(key: "model_hash") var modelHash: String?
    @OptionalField(key: "metrics_json") var metricsJSON: String?
    @OptionalField(key: "error_details") var errorDetails: String?
    @OptionalField(key: "training_seconds") var trainingSeconds: Double?
    @OptionalField(key: "trained_at") var trainedAt: Date?
    /// While training: images per second through the backbone, and the expected end.
    @OptionalField(key: "images_per_second") var imagesPerSecond: Double?
    @OptionalField(key: "estimated_end") var estimatedEnd: Date?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?
    init() {}
}
