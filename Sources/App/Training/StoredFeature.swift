import Fluent
import Vapor

/// A cached backbone feature vector (see FeatureStore).
final class StoredFeature: Model, @unchecked Sendable {
    static let schema = "features"
    @ID(key: .id) var id: UUID?
    @Field(key: "blob_hash") var blobHash: String
    @Field(key: "backbone") var backbone: String
    @Field(key: "view") var view: Int
    @Field(key: "vector") var vector: Data
    init() {}
}
