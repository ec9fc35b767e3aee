import Fluent
import NIOConcurrencyHelpers
import NIOCore
import Vapor

/// Removes blobs that nothing references (images, trained models, stored predictions, exports)
/// and stored predictions older than 30 days. A grace period protects blobs of an upload
/// whose rows are not committed yet: `BlobStore.put` refreshes a reused blob's time before
/// its row commits, and each candidate is set aside and checked again (time and references)
/// before it is deleted, so an upload racing the sweep never loses its bytes. A deleted
/// blob's cached features go with it (`FeaturePruner`).
struct BlobSweeper {
    let db: Database
    let store: BlobStore
    static let predictionRetention: TimeInterval = 30 * 24 * 3600
    /// Called for each candidate after the reference snapshot, before its last check (tests).
    var beforeRemoving: (@Sendable (String) async throws -> Void)?

    func sweep(grace: TimeInterval = 3600, now: Date = Date()) async throws -> Int {
        // Stored predictions past their 30 days go first, so their images can be swept.
        try await StoredPrediction.query(on: db).filter(\.$createdAt < now.addingTimeInterval(-Self.predictionRetention)).delete()
        let referenced = try await BlobReferences(db: db).all()   // one snapshot; each candidate is checked again
        var removed = 0
        for blob in store.all() where !referenced.contains(blob.hash) && now.timeIntervalSince(blob.modified) >= grace {
            try await beforeRemoving?(blob.hash)
            if try await removeIfUnreferenced(blob.hash, grace: grace) { removed += 1 }
        }
        // Blobs a stopped sweep left aside: back if referenced meanwhile, else gone.
        let refs = BlobReferences(db: db)
        for (hash, aside) in store.setAsideFiles(olderThan: now.addingTimeInterval(-3600)) {
            if try await refs.isReferenced(hash) { store.restore(aside, hash: hash) } else { store.discard(aside) }
        }
        // Features whose bytes are gone; a blob set aside by a concurrent check may come back,
        // so each hash is looked for in place, set aside, then in place again.
        _ = try await features.sweep { h in
            store.exists(h) || store.setAsideFiles(olderThan: .distantFuture).contains { $0.hash == h } || store.exists(h)
        }
        return removed
    }

    /// Deletes one blob if no row references it and it was not written or reused within
    /// `grace`. The blob is moved aside first, then checked again, then deleted or put back.
    @discardableResult
    func removeIfUnreferenced(_ hash: String, grace: TimeInterval) async throws -> Bool {
        let refs = BlobReferences(db: db)
        func fresh(_ url: URL) -> Bool { store.modified(url).map { Date().timeIntervalSince($0) < grace } ?? false }
        guard !fresh(store.path(hash)) else { return false }
        // Checked before setting aside too, so that a referenced blob is never out of reach
        // of its readers; the check after is the one that decides.
        guard try await !refs.isReferenced(hash), let aside = store.setAside(hash) else { return false }
        do {
            let referenced = try await refs.isReferenced(hash)
            if fresh(aside) || referenced {
                store.restore(aside, hash: hash)
                return false
            }
        } catch {
            store.restore(aside, hash: hash)
            throw error
        }
        store.discard(aside)
        try await features.drop(hash)
        return true
    }

    var features: FeaturePruner { FeaturePruner(db: db, dataDir: store.dataDir) }

    /// Frees the blobs of deleted rows once `BLOB_FREE_GRACE_SECONDS` has passed, so that an
    /// upload of the same bytes still between its `put` and its commit keeps them. Runs in
    /// the background; the hourly sweep catches whatever a stopped process left.
    static func freeLater(_ hashes: Set<String>, app: Application) {
        guard !hashes.isEmpty else { return }
        app.blobReclaimer.free(hashes)
    }
}

/// The background tasks of `BlobSweeper.freeLater`, cancelled when the application stops.
final class BlobReclaimer: LifecycleHandler, @unchecked Sendable {
    private let lock = NIOLock()
    private var tasks: [UUID: Task<Void, Never>] = [:]
    private var stopped = false
    private let sweeper: BlobSweeper, grace: TimeInterval, logger: Logger

    init(db: Database, store: BlobStore, grace: TimeInterval, logger: Logger) {
        sweeper = BlobSweeper(db: db, store: store); self.grace = grace; self.logger = logger
    }

    func free(_ hashes: Set<String>) {
        let id = UUID()
        let sweeper = self.sweeper, grace = self.grace, logger = self.logger
        lock.withLock {
            guard !stopped else { return }
            tasks[id] = Task { [weak self] in
                defer { self?.finished(id) }
                do {
                    try await Task.sleep(nanoseconds: UInt64(grace * 1e9))
                    for h in hashes.sorted() {
                        try Task.checkCancellation()
                        try await sweeper.removeIfUnreferenced(h, grace: grace)
                    }
                } catch is CancellationError {
                } catch {
                    logger.warning("freeing deleted images' blobs failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    private func finished(_ id: UUID) { lock.withLock { _ = tasks.removeValue(forKey: id) } }

    /// Waits for the pending frees (tests).
    func drain() async {
        while let next = lock.withLock({ tasks.values.first }) { await next.value }
    }

    func shutdown(_ app: Application) {
        lock.withLock {
            stopped = true
            tasks.values.forEach { $0.cancel() }
        }
    }
}

struct BlobReclaimerKey: StorageKey { typealias Value = BlobReclaimer }

extension Application {
    var blobReclaimer: BlobReclaimer {
        get { storage[BlobReclaimerKey.self]! }
        set { storage[BlobReclaimerKey.self] = newValue }
    }
}

/// `sightline sweep-blobs [--grace-seconds N]`
struct SweepBlobsCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "grace-seconds", help: "Keep unreferenced blobs younger than this (default 3600)")
        var grace: Int?
    }

    var help: String { "Deletes image blobs no row references." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        let removed = try await BlobSweeper(db: app.db, store: app.blobStore)
            .sweep(grace: TimeInterval(signature.grace ?? 3600))
        context.console.output("Removed \(String(removed)) unreferenced blob(s).")
    }
}
