import Foundation
import Vapor

/// Suggestions being computed in this process, by (iteration, image): a second caller
/// asking for the same image waits for the first caller's prediction instead of paying
/// for and running its own.
actor SuggestionFlights {
    private var running: [String: Task<[Suggestion.Entry], Error>] = [:]

    /// The entries for `key`, from a prediction already running or from `compute` (which
    /// pays for it and keeps it).
    func entries(_ key: String, _ compute: @escaping @Sendable () async throws -> [Suggestion.Entry]) async throws -> [Suggestion.Entry] {
        if let task = running[key] { return try await task.value }
        let task = Task { try await compute() }
        running[key] = task
        defer { running[key] = nil }
        return try await task.value
    }
}

struct SuggestionFlightsKey: StorageKey { typealias Value = SuggestionFlights }

extension Application {
    var suggestionFlights: SuggestionFlights {
        get { storage[SuggestionFlightsKey.self]! }
        set { storage[SuggestionFlightsKey.self] = newValue }
    }
}
