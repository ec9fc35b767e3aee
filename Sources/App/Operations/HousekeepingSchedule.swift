import NIOCore
import Vapor

/// Hourly in a serving process: unreferenced blobs, expired sessions, pending image count
/// changes, and sign-in buckets that have long been full.
final class HousekeepingSchedule: LifecycleHandler, @unchecked Sendable {
    private var task: NIOCore.RepeatedTask?

    func didBoot(_ app: Application) throws {
        let db = app.db, sweeper = app.blobSweeper, logger = app.logger, settings = app.settings
        task = app.eventLoopGroup.next().scheduleRepeatedTask(initialDelay: .minutes(10), delay: .hours(1)) { _ in
            Task {
                // Each on its own: one failing does not skip the others.
                do {
                    let removed = try await sweeper.sweepOnce() ?? 0
                    if removed > 0 { logger.info("swept unreferenced blobs", metadata: ["removed": "\(removed)"]) }
                } catch { logger.warning("blob sweep failed", metadata: ["error": "\(error)"]) }
                do {
                    let sessions = try await SessionClock.sweep(db: db, settings: settings)
                    if sessions > 0 { logger.info("swept expired sessions", metadata: ["removed": "\(sessions)"]) }
                } catch { logger.warning("session sweep failed", metadata: ["error": "\(error)"]) }
                do { try await ImageCounters(db: db).fold() }
                catch { logger.warning("image count fold failed", metadata: ["error": "\(error)"]) }
                do { try await AttemptThrottle(db: db).sweep() }
                catch { logger.warning("sign-in bucket sweep failed", metadata: ["error": "\(error)"]) }
            }
        }
    }

    func shutdown(_ app: Application) {
        task?.cancel()
    }
}
