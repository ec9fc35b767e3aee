import Fluent
import Foundation
import NIOConcurrencyHelpers
import Vapor

/// `ENGINE_WORKERS` workers per process, each claiming jobs from the persistent queue,
/// heart-beating while they run, and recovering the jobs of processes that died.
final class EnginePool: LifecycleHandler, @unchecked Sendable {
    let workers: Int
    let heartbeat: Double
    let id = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
    private let tasks = NIOLockedValueBox<[Task<Void, Never>]>([])

    init(workers: Int, heartbeatSeconds: Double) {
        self.workers = workers
        self.heartbeat = heartbeatSeconds
    }

    private func queue(_ app: Application) -> JobQueue { JobQueue(db: app.db, staleAfter: 6 * heartbeat) }

    func didBoot(_ app: Application) throws {
        guard workers > 0 else { return }
        var started: [Task<Void, Never>] = []
        for n in 0..<workers {
            started.append(Task { await self.work(app, worker: "\(self.id)-\(n)") })
        }
        started.append(Task { await self.recover(app) })
        tasks.withLockedValue { $0 = started }
    }

    func shutdownAsync(_ app: Application) async {
        let running = tasks.withLockedValue { t -> [Task<Void, Never>] in defer { t = [] }; return t }
        running.forEach { $0.cancel() }
        for t in running { await t.value }
        // Jobs this process was running go back to the queue for another process.
        try? await Job.query(on: app.db).filter(\.$state == "running").filter(\.$claimedBy ~~ (0..<workers).map { "\(id)-\($0)" })
            .set(\.$state, to: "queued").set(\.$claimedBy, to: nil).update()
    }

    private func recover(_ app: Application) async {
        while !Task.isCancelled {
            do { try await queue(app).recoverStale() } catch {
                app.logger.warning("job recovery failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(nanoseconds: UInt64(2 * heartbeat * 1e9))
        }
    }

    private func work(_ app: Application, worker: String) async {
        let queue = queue(app)
        while !Task.isCancelled {
            do {
                guard let job = try await queue.claim(worker: worker) else {
                    await JobWakeup.shared.wait(nanoseconds: 300_000_000)
                    continue
                }
                await run(job, app: app, queue: queue)
            } catch {
                if Task.isCancelled { return }
                app.logger.warning("job claim failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
    }

    private func run(_ job: Job, app: Application, queue: JobQueue) async {
        let interval = UInt64(heartbeat * 1e9)
        let beat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: interval)
                try? await queue.heartbeat(job)
            }
        }
        defer { beat.cancel() }
        if job.kind == "export" { return await runExport(job, app: app, queue: queue) }
        if job.kind == "import" { return await runImport(job, app: app, queue: queue) }
        app.logger.info("training started", metadata: ["iteration": "\(job.iterationID)", "attempt": "\(job.attempts)"])
        do {
            try await TrainingJob(app: app, job: job, queue: queue).run()
            try await queue.finish(job, state: "done")
            app.logger.info("training finished", metadata: ["iteration": "\(job.iterationID)"])
        } catch is TrainingJob.Cancelled {
            try? await queue.finish(job, state: "cancelled")
        } catch {
            if Task.isCancelled { return }  // shutting down: the job is re-queued
            // Its iteration deleted while it trained, the job's last writes fail on the missing
            // row before it sees the cancellation: that is a cancellation, not a failure.
            if (try? await Iteration.query(on: app.db).filter(\.$id == job.iterationID).count()) == 0 {
                try? await queue.finish(job, state: "cancelled")
                return
            }
            if await retried(job, after: error, app: app, queue: queue) { return }
            let reason = "\(error)"
            app.logger.error("training failed", metadata: ["iteration": "\(job.iterationID)", "error": "\(reason)"])
            try? await queue.fail(job, error: reason, details: "Training failed: \(FailureText.describe(error))")
        }
    }

    private func runImport(_ job: Job, app: Application, queue: JobQueue) async {
        app.logger.info("import started", metadata: ["project": "\(job.projectID.map { "\($0)" } ?? "-")"])
        do {
            try await ProjectImportJob(app: app, job: job).run()
            try await queue.finish(job, state: "done")
        } catch is ProjectImportJob.Cancelled {
            // Only a job still ours: one re-queued meanwhile belongs to its next worker.
            try? await Job.query(on: app.db).filter(\.$id == job.id!).filter(\.$state == "running").filter(\.$claimedBy == job.claimedBy)
                .set(\.$state, to: "cancelled").update()
        } catch {
            if Task.isCancelled { return }
            let reason = "\(error)"
            app.logger.error("import failed", metadata: ["project": "\(job.projectID.map { "\($0)" } ?? "-")", "error": "\(reason)"])
            try? await queue.fail(job, error: reason, details: FailureText.describe(error))
        }
    }

    /// Whether a job the blob store's outage stopped went back to the queue for another try.
    private func retried(_ job: Job, after error: Error, app: Application, queue: JobQueue) async -> Bool {
        guard error is BlobStoreUnavailable else { return false }
        app.logger.warning("job paused: the blob store is out of reach", metadata: ["job": "\(job.id!)", "error": "\(error)"])
        return (try? await queue.retryLater(job, after: 30)) == true
    }

    private func runExport(_ job: Job, app: Application, queue: JobQueue) async {
        app.logger.info("export started", metadata: ["export": "\(job.exportID.map { "\($0)" } ?? "-")"])
        do {
            try await ExportJob(app: app, job: job).run()
            try await queue.finish(job, state: "done")
        } catch is ExportJob.Cancelled {
            try? await queue.finish(job, state: "cancelled")
        } catch {
            if Task.isCancelled { return }
            if await retried(job, after: error, app: app, queue: queue) { return }
            let reason = "\(error)"
            app.logger.error("export failed", metadata: ["export": "\(job.exportID.map { "\($0)" } ?? "-")", "error": "\(reason)"])
            try? await queue.fail(job, error: reason, details: FailureText.describe(error))
        }
    }
}
