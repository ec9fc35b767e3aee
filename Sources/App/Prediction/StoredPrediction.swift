import Fluent
import Vapor

/// A stored prediction: the image blob and the results, kept 30 days.
final class StoredPrediction: Model, @unchecked Sendable {
    static let schema = "predictions"
    @ID(key: .id) var id: UUID?
    @Field(key: "project_id") var projectID: UUID
    @Field(key: "iteration_id") var iterationID: UUID
    @Field(key: "blob_hash") var blobHash: String
    @Field(key: "results_json") var resultsJSON: String
    @Field(key: "created_at") var createdAt: Date
    init() {}
}
