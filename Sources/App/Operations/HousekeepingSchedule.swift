import NIOCore
import Vapor

/// Hourly in a serving process: unreferenced blobs, expired sessions and sign-in buckets
/// that have long been full.
final class HousekeepingSchedule: LifecycleHandler, @unchecked Sendable {
    private var task: NIOCore.RepeatedTask?

    func didBoot(_ app: Application) throws {
        let db = app.db, store = app.blobStore, logger = app.logger, settings = app.settings
        task = app.eventLoopGroup.next().scheduleRepeatedTask(initialDelay: .minutes(10), delay: .hours(1)) { _ in
            Task {
                do {
                    let removed = try await BlobSweeper(db: db, store: store).sweep()
                    if removed > 0 { logger.info("swept unreferenced blobs", metadata: ["removed": "\(removed)"]) }
                    let sessions = try await SessionClock.sweep(db: db, settings: settings)
                    if sessions > 0 { logger.info("swept expired sessions", metadata: ["removed": "\(sessions)"]) }
                    try await AttemptThrottle(db: db).sweep()
                } catch {
                    logger.warning("housekeeping failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    func shutdown(_ app: Application) {
        task?.cancel()
    }
}
