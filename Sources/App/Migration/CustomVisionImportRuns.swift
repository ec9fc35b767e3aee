import Foundation
import NIOConcurrencyHelpers
import Vapor

/// The portal's running and finished imports in this process, each visible to the user who
/// started it. Kept in memory: after a restart a run is gone, and starting it again
/// copies only what is missing.
final class CustomVisionImportRuns: @unchecked Sendable {
    struct Run {
        let userID: UUID
        let accountID: UUID
        let endpoint: String
        let started: Date
        let progress: CustomVisionImporter.Progress
    }

    private let runs = NIOLockedValueBox<[UUID: Run]>([:])
    /// Finished runs kept for their page; the oldest go first.
    static let kept = 50

    func start(user: UUID, account: Account, endpoint: String, importer: CustomVisionImporter,
               projects: [String], train: Bool, progress: CustomVisionImporter.Progress) -> UUID {
        let id = UUID()
        runs.withLockedValue { r in
            r[id] = Run(userID: user, accountID: account.id!, endpoint: endpoint, started: Date(), progress: progress)
            let finished = r.filter { $0.value.progress.report.finished }.sorted { $0.value.started < $1.value.started }
            for (old, _) in finished.dropLast(Self.kept) { r[old] = nil }
        }
        Task { await importer.run(projectIDs: projects, train: train, progress: progress) }
        return id
    }

    func run(_ id: UUID, user: UUID) -> Run? {
        runs.withLockedValue { $0[id] }.flatMap { $0.userID == user ? $0 : nil }
    }
}

struct CustomVisionImportRunsKey: StorageKey { typealias Value = CustomVisionImportRuns }

extension Application {
    var customVisionImports: CustomVisionImportRuns {
        get { storage[CustomVisionImportRunsKey.self]! }
        set { storage[CustomVisionImportRunsKey.self] = newValue }
    }
}
