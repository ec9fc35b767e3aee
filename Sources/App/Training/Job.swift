import Fluent
import Vapor

/// A row of the persistent job queue (see JobQueue).
final class Job: Model, @unchecked Sendable {
    static let schema = "jobs"
    @ID(key: .id) var id: UUID?
    @Field(key: "kind") var kind: String
    /// The iteration a `train` or `export` job works on; the zero id for an `import` job.
    @Field(key: "iteration_id") var iterationID: UUID
    /// The export an `export` job builds; nil for training jobs.
    @OptionalField(key: "export_id") var exportID: UUID?
    /// The project an `import` job fills, and the project it copies.
    @OptionalField(key: "project_id") var projectID: UUID?
    @OptionalField(key: "source_project_id") var sourceProjectID: UUID?
    /// When the export token was issued: an `import` job copies what existed then.
    @OptionalField(key: "snapshot_at") var snapshotAt: Date?
    /// queued, running, done, failed, cancelled
    @Field(key: "state") var state: String
    @Field(key: "attempts") var attempts: Int
    @OptionalField(key: "claimed_by") var claimedBy: String?
    @OptionalField(key: "heartbeat_at") var heartbeatAt: Date?
    @OptionalField(key: "error") var error: String?
    @Field(key: "created_at") var createdAt: Date
    init() {}
}
