import Foundation

/// The limits a tier sets, by their wire names in the admin API.
enum Quota: String, CaseIterable, Codable, Sendable {
    case projects
    case tagsPerProject
    case imagesPerProject
    case iterationsPerProject
    case predictionsPerMonth
    case transactionsPerSecond
    /// Calls to the Training API per second (Azure's "other API calls" rate).
    case trainingTransactionsPerSecond
    /// Stored predictions (quick tests and stored predictions) kept per project; the oldest go first.
    case storedPredictionsPerProject

    /// Counted quotas have a usage counter; TPS is a rate, not a count.
    var isCounted: Bool { ![.transactionsPerSecond, .trainingTransactionsPerSecond, .storedPredictionsPerProject].contains(self) }

    var label: String {
        switch self {
        case .projects: "Projects"
        case .tagsPerProject: "Tags per project"
        case .imagesPerProject: "Images per project"
        case .iterationsPerProject: "Iterations per project"
        case .predictionsPerMonth: "Predictions per month"
        case .transactionsPerSecond: "Transactions per second"
        case .trainingTransactionsPerSecond: "Training calls per second"
        case .storedPredictionsPerProject: "Stored predictions per project"
        }
    }

    /// The counter row a quota uses; per-project quotas are scoped by project.
    func scope(project: UUID? = nil, month: Date = Date()) -> String {
        switch self {
        case .projects: return "projects"
        case .tagsPerProject: return "tags/\(project!.uuidString.lowercased())"
        case .imagesPerProject: return "images/\(project!.uuidString.lowercased())"
        case .iterationsPerProject: return "iterations/\(project!.uuidString.lowercased())"
        case .predictionsPerMonth:
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = TimeZone(identifier: "UTC")!
            let c = cal.dateComponents([.year, .month], from: month)
            return String(format: "predictions/%04d-%02d", c.year!, c.month!)
        case .transactionsPerSecond: return "tps"
        case .trainingTransactionsPerSecond: return "training-tps"
        case .storedPredictionsPerProject: return "stored-predictions/\(project!.uuidString.lowercased())"
        }
    }
}

/// Admin-facing feature flag name, kept beside the limits in PUT bodies.
let objectDetectionFlag = "objectDetection"
