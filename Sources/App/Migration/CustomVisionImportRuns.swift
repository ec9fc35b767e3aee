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

    /// Unfinished runs at once: per user, and in this process. Each holds a few images in
    /// memory and a source connection.
    static let perUser = 1
    static let inProcess = 4

    struct Busy: Error { let message: String }

    func start(user: UUID, account: Account, endpoint: String, importer: CustomVisionImporter,
               projects: [String], train: Bool, progress: CustomVisionImporter.Progress) throws -> UUID {
        let id = UUID()
        try runs.withLockedValue { r in
            let running = r.values.filter { !$0.progress.report.finished }
            if running.filter({ $0.userID == user }).count >= Self.perUser {
                throw Busy(message: "Your last import is still running; wait for it to finish or cancel it.")
            }
            if running.count >= Self.inProcess {
                throw Busy(message: "\(Self.inProcess) imports are running on this server; try again when one has finished.")
            }
            r[id] = Run(userID: user, accountID: account.id!, endpoint: endpoint, started: Date(), progress: progress)
            let finished = r.filter { $0.value.progress.report.finished }.sorted { $0.value.started < $1.value.started }
            for (old, _) in finished.dropLast(Self.kept) { r[old] = nil }
        }
        progress.attach(Task { await importer.run(projectIDs: projects, train: train, progress: progress) })
        Task { await Self.watch(progress) }
        return id
    }

    /// A run that copies nothing for this long (and is not training) is stopped: a source
    /// that answers slowly or not at all cannot hold one of the server's runs for good.
    static let idleLimit: TimeInterval = 300

    static func watch(_ progress: CustomVisionImporter.Progress, every seconds: TimeInterval = 30) async {
        var last = -1, since = Date()
        while !progress.report.finished {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            let r = progress.report
            let done = r.projects.reduce(0) { $0 + $1.imagesDone }
            if done != last || r.projects.contains(where: { $0.state == "training" }) {
                last = done; since = Date()
            } else if Date().timeIntervalSince(since) > idleLimit, !r.finished {
                progress.update { $0.error = "The source sent nothing for \(Int(idleLimit / 60)) minutes; the import stopped. Importing again copies only what is missing." }
                progress.cancel()
                return
            }
        }
    }

    func run(_ id: UUID, user: UUID) -> Run? {
        runs.withLockedValue { $0[id] }.flatMap { $0.userID == user ? $0 : nil }
    }

    /// A source's project list, kept in this process so the page that picks from it is a
    /// GET (post/redirect/get) and the training key never goes back into a page.
    struct Listing: Sendable {
        let userID: UUID
        let endpoint: String
        let trainingKey: String
        let projects: [CustomVisionSource.Project]
        let created: Date
    }

    private let listings = NIOLockedValueBox<[UUID: Listing]>([:])
    /// A listing is kept half an hour, and each user's five newest only.
    static let listingSeconds: TimeInterval = 1800
    static let listingsPerUser = 5

    func keep(_ listing: Listing) -> UUID {
        let id = UUID()
        listings.withLockedValue { l in
            let now = Date()
            l = l.filter { now.timeIntervalSince($0.value.created) < Self.listingSeconds }
            l[id] = listing
            let mine = l.filter { $0.value.userID == listing.userID }.sorted { $0.value.created < $1.value.created }
            for (old, _) in mine.dropLast(Self.listingsPerUser) { l[old] = nil }
        }
        return id
    }

    func listing(_ id: UUID, user: UUID) -> Listing? {
        listings.withLockedValue { $0[id] }.flatMap {
            $0.userID == user && Date().timeIntervalSince($0.created) < Self.listingSeconds ? $0 : nil
        }
    }

    func forget(listing id: UUID) { listings.withLockedValue { $0[id] = nil } }
}

struct CustomVisionImportRunsKey: StorageKey { typealias Value = CustomVisionImportRuns }

extension Application {
    var customVisionImports: CustomVisionImportRuns {
        get { storage[CustomVisionImportRunsKey.self]! }
        set { storage[CustomVisionImportRunsKey.self] = newValue }
    }
}
