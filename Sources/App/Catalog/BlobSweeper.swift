import Fluent
import NIOCore
import Vapor

/// Removes blobs that nothing references (images, trained models, stored predictions, exports)
/// and stored predictions older than 30 days. A grace period protects blobs of an upload
/// whose rows are not committed yet.
struct BlobSweeper {
    let db: Database
    let store: BlobStore
    static let predictionRetention: TimeInterval = 30 * 24 * 3600

    func sweep(grace: TimeInterval = 3600, now: Date = Date()) async throws -> Int {
        // Stored predictions past their 30 days go first, so their images can be swept.
        try await StoredPrediction.query(on: db).filter(\.$createdAt < now.addingTimeInterval(-Self.predictionRetention)).delete()
        var referenced = Set<String>()
        for img in try await ImageRecord.query(on: db).all() {
            referenced.insert(img.originalHash); referenced.insert(img.resizedHash); referenced.insert(img.thumbnailHash)
        }
        for it in try await Iteration.query(on: db).filter(\.$modelHash != nil).all() { referenced.insert(it.modelHash!) }
        for p in try await StoredPrediction.query(on: db).all() { referenced.insert(p.blobHash) }
        for e in try await Export.query(on: db).filter(\.$blobHash != nil).all() { referenced.insert(e.blobHash!) }
        var removed = 0
        for blob in store.all() where !referenced.contains(blob.hash) && now.timeIntervalSince(blob.modified) >= grace {
            store.delete(blob.hash)
            removed += 1
        }
        return removed
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

/// Runs the sweep hourly in a serving process (and `sweep-blobs` on demand).
final class BlobSweepSchedule: LifecycleHandler, @unchecked Sendable {
    private var task: NIOCore.RepeatedTask?

    func didBoot(_ app: Application) throws {
        let db = app.db, store = app.blobStore, logger = app.logger
        task = app.eventLoopGroup.next().scheduleRepeatedTask(initialDelay: .minutes(10), delay: .hours(1)) { _ in
            Task {
                do {
                    let removed = try await BlobSweeper(db: db, store: store).sweep()
                    if removed > 0 { logger.info("swept unreferenced blobs", metadata: ["removed": "\(removed)"]) }
                } catch {
                    logger.warning("blob sweep failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    func shutdown(_ app: Application) {
        task?.cancel()
    }
}
