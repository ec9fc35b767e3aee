import Fluent
import Vapor

/// A row of the tier catalogue. NULL limits are unlimited.
final class Tier: Model, @unchecked Sendable {
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
    @OptionalField(key: "stored_predictions_per_project") var storedPredictionsPerProject: Int?
    @OptionalField(key: "training_transactions_per_second") var trainingTransactionsPerSecond: Int?
    @Field(key: "object_detection") var objectDetection: Bool
    init() {}

    func limit(_ q: Quota) -> Int? {
        switch q {
        case .projects: projects
        case .tagsPerProject: tagsPerProject
        case .imagesPerProject: imagesPerProject
        case .iterationsPerProject: iterationsPerProject
        case .predictionsPerMonth: predictionsPerMonth
        case .transactionsPerSecond: transactionsPerSecond
        case .trainingTransactionsPerSecond: trainingTransactionsPerSecond
        case .storedPredictionsPerProject: storedPredictionsPerProject
        }
    }

    func setLimit(_ q: Quota, _ v: Int?) {
        switch q {
        case .projects: projects = v
        case .tagsPerProject: tagsPerProject = v
        case .imagesPerProject: imagesPerProject = v
        case .iterationsPerProject: iterationsPerProject = v
        case .predictionsPerMonth: predictionsPerMonth = v
        case .transactionsPerSecond: transactionsPerSecond = v
        case .trainingTransactionsPerSecond: trainingTransactionsPerSecond = v
        case .storedPredictionsPerProject: storedPredictionsPerProject = v
        }
    }
}
