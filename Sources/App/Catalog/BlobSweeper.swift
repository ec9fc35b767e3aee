import Fluent
import SQLKit
import NIOConcurrencyHelpers
import NIOCore
import Vapor

/// Removes blobs that nothing references (images, trained models, stored predictions, exports)
/// and stored predictions older than 30 days. A grace period protects blobs of an upload
/// whose rows are not committed yet, and each store removes a candidate in a way a racing
/// `put` cannot lose (`BlobStore.remove`). A deleted blob's cached features go with it
/// (`FeaturePruner`).
struct BlobSweeper {
    let db: Database
    let store: any BlobStore
    /// DATA_DIR, where this node caches detection features.
    let dataDir: URL
    static let predictionRetention: TimeInterval = 30 * 24 * 3600
    /// Called for each candidate after the reference snapshot, before its last check (tests).
    var beforeRemoving: (@Sendable (String) async throws -> Void)?

    init(db: Database, store: any BlobStore, dataDir: String) {
        self.db = db; self.store = store; self.dataDir = URL(fileURLWithPath: dataDir)
    }

    /// The hourly sweep: on PostgreSQL one node at a time (an advisory lock held by a
    /// transaction for the sweep's length; a node that finds it taken leaves the sweep to the
    /// one holding it), so several nodes do not each list a whole bucket.
    func sweepOnce(grace: TimeInterval = 3600) async throws -> Int? {
        guard (db as! SQLDatabase).dialect.name == "postgresql" else { return try await sweep(grace: grace) }
        return try await db.transaction { tx in
            let got = try await (tx as! SQLDatabase).raw("SELECT pg_try_advisory_xact_lock(\(literal: Self.sweepLock)) AS got")
                .first()?.decode(column: "got", as: Bool.self)
            guard got == true else { return nil }
            return try await sweep(grace: grace)
        }
    }

    /// The advisory lock key of the hourly sweep ("blobswep" in ASCII).
    static let sweepLock: Int64 = 0x626C_6F62_7377_6570

    func sweep(grace: TimeInterval = 3600, now: Date = Date()) async throws -> Int {
        // Stored predictions past their 30 days go first, so their images can be swept.
        try await StoredPrediction.query(on: db).filter(\.$createdAt < now.addingTimeInterval(-Self.predictionRetention)).delete()
        let referenced = try await BlobReferences(db: db).all()   // one snapshot; each candidate is checked again
        let listed = try await store.list()
        var removed: Set<String> = []
        for blob in listed where !referenced.contains(blob.hash) && now.timeIntervalSince(blob.modified) >= grace {
            try await beforeRemoving?(blob.hash)
            if try await removeIfUnreferenced(blob.hash, grace: grace) { removed.insert(blob.hash) }
        }
        let db = self.db
        try await store.recover { try await BlobReferences(db: db).isReferenced($0) }
        // Features whose bytes are gone. A blob listed and not removed is there; any other is
        // asked for (it may have been written since, or put back by a concurrent check).
        let present = Set(listed.map(\.hash)).subtracting(removed)
        let store = self.store
        _ = try await features.sweep { h in
            if present.contains(h) { return true }
            return try await store.exists(h)
        }
        return removed.count
    }

    /// Deletes one blob if no row references it and it was not written or reused within `grace`.
    @discardableResult
    func removeIfUnreferenced(_ hash: String, grace: TimeInterval) async throws -> Bool {
        let db = self.db
        guard try await store.remove(hash, grace: grace, isReferenced: { try await BlobReferences(db: db).isReferenced($0) }) else {
            return false
        }
        try await features.drop(hash)
        return true
    }

    var features: FeaturePruner { FeaturePruner(db: db, dataDir: dataDir) }

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

    init(sweeper: BlobSweeper, grace: TimeInterval, logger: Logger) {
        self.sweeper = sweeper; self.grace = grace; self.logger = logger
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
                } catch where self?.isStopped ?? true {
                    // The application stopped under it; the hourly sweep takes what is left.
                } catch {
                    logger.warning("freeing deleted images' blobs failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

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
    var blobSweeper: BlobSweeper { BlobSweeper(db: db, store: blobStore, dataDir: settings.dataDir) }

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
        let removed = try await app.blobSweeper.sweep(grace: TimeInterval(signature.grace ?? 3600))
        context.console.output("Removed \(String(removed)) unreferenced blob(s).")
    }
}
