import Fluent
import Vapor

/// One requested export of a trained iteration: built by an `export` job into a zip blob.
final class Export: Model, @unchecked Sendable {
    static let schema = "exports"
    @ID(key: .id) var id: UUID?
    @Field(key: "iteration_id") var iterationID: UUID
    @Field(key: "project_id") var projectID: UUID
    /// ExportPlatform: ONNX, DockerFile, OpenVino, TensorFlow or CoreML.
    @Field(key: "platform") var platform: String
    /// ExportFlavor actually built (ONNX10, ONNX12, OnnxFloat16, Linux, ARM, TensorFlowNormal,
    /// TensorFlowSavedModel, TensorFlowLite; "" for OpenVino and CoreML, which have none).
    @Field(key: "flavor") var flavor: String
    /// Exporting, Done or Failed.
    @Field(key: "status") var status: String
    @OptionalField(key: "blob_hash") var blobHash: String?
    @OptionalField(key: "error") var error: String?
    @Field(key: "created_at") var createdAt: Date
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?
    init() {}
}
