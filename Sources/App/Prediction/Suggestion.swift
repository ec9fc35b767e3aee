import Fluent
import Foundation

/// What an iteration predicts for one training image, for smart labeling.
final class Suggestion: Model, @unchecked Sendable {
    static let schema = "suggestions"
    @ID(key: .id) var id: UUID?
    @Field(key: "iteration_id") var iterationID: UUID
    @Field(key: "image_id") var imageID: UUID
    @Field(key: "predictions_json") var predictionsJSON: String
    /// 1 − the highest probability: 0 when the model is sure of something, 1 when it sees nothing.
    @Field(key: "uncertainty") var uncertainty: Double
    @Field(key: "created_at") var createdAt: Date
    init() {}

    struct Entry: Codable, Sendable {
        var tagID: String
        var probability: Float
        /// Detection only.
        var box: [Float]?
    }

    var predictions: [Entry] {
        get { (try? JSONDecoder().decode([Entry].self, from: Data(predictionsJSON.utf8))) ?? [] }
        set { predictionsJSON = String(decoding: (try? JSONEncoder().encode(newValue)) ?? Data("[]".utf8), as: UTF8.self) }
    }
}
