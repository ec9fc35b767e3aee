import Fluent
import SQLKit
import Vapor

/// The one place jobs are claimed, heart-beaten and recovered. Claiming is a single
/// atomic statement; on PostgreSQL `FOR UPDATE SKIP LOCKED` lets several processes
/// claim concurrently without ever taking the same job.
struct JobQueue {
    let db: Database
    /// A running job whose heartbeat is older than this belongs to a dead process.
    var staleAfter: TimeInterval = 30
    static let maxAttempts = 3

    func enqueue(kind: String, iteration: UUID, export: UUID? = nil, on db: Database? = nil) async throws {
        let job = Job()
        job.kind = kind; job.iterationID = iteration; job.exportID = export
        job.state = "queued"; job.attempts = 0; job.createdAt = Date()
        try await job.create(on: db ?? self.db)
    }

    /// Claims the oldest queued job for `worker`, or nil.
    func claim(worker: String) async throws -> Job? {
        let sql = db as! SQLDatabase
        let skipLocked = sql.dialect.name == "postgresql" ? " FOR UPDATE SKIP LOCKED" : ""
        let row = try await sql.raw("""
            UPDATE jobs SET state = 'running', claimed_by = \(bind: worker), heartbeat_at = \(bind: Date()), attempts = attempts + 1
            WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1\(unsafeRaw: skipLocked))
            RETURNING id
            """).first()
        guard let id = try row?.decode(column: "id", as: UUID.self) else { return nil }
        return try await Job.find(id, on: db)
    }

    func heartbeat(_ job: Job) async throws {
        try await Job.query(on: db).filter(\.$id == job.id!).filter(\.$state == "running").set(\.$heartbeatAt, to: Date()).update()
    }

    func finish(_ job: Job, state: String, error: String? = nil) async throws {
        try await Job.query(on: db).filter(\.$id == job.id!).set(\.$state, to: state).set(\.$error, to: error).update()
    }

    /// Fails a job for good, and with it what it was building: its Training iteration, its
    /// Exporting export (which gets `details` as the reason) or its Importing project.
    func fail(_ job: Job, error: String, details: String) async throws {
        try await finish(job, state: "failed", error: error)
        if job.kind == "import" {
            guard let id = job.projectID else { return }
            try await Project.query(on: db).filter(\.$id == id).filter(\.$status == "Importing").set(\.$status, to: "Failed").update()
        } else if job.kind == "export" {
            guard let id = job.exportID else { return }
            try await Export.query(on: db).filter(\.$id == id).filter(\.$status == "Exporting")
                .set(\.$status, to: "Failed").set(\.$error, to: details).update()
        } else {
            try await Iteration.query(on: db).filter(\.$id == job.iterationID).filter(\.$status == "Training")
                .set(\.$status, to: "Failed").set(\.$errorDetails, to: details).update()
        }
    }

    /// Whether the job was cancelled (its iteration deleted) while it ran.
    func isCancelled(_ job: Job) async throws -> Bool {
        try await Job.find(job.id, on: db)?.state != "running"
    }

    /// A job stopped by something passing (the blob store out of reach) goes back to the
    /// queue after `pause`, its worker beating meanwhile, while it has attempts left.
    func retryLater(_ job: Job, after pause: TimeInterval) async throws -> Bool {
        guard job.attempts < Self.maxAttempts else { return false }
        try await Task.sleep(nanoseconds: UInt64(pause * 1e9))
        try await Job.query(on: db).filter(\.$id == job.id!).filter(\.$state == "running")
            .set(\.$state, to: "queued").set(\.$claimedBy, to: nil).update()
        if job.kind == "train" {
            try await Iteration.query(on: db).filter(\.$id == job.iterationID).set(\.$progress, to: 0).update()
        }
        return true
    }

    /// Jobs of dead processes go back to the queue, or fail after too many attempts;
    /// their iterations are never left in Training.
    func recoverStale(now: Date = Date()) async throws {
        let cutoff = now.addingTimeInterval(-staleAfter)
        let stale = try await Job.query(on: db).filter(\.$state == "running").filter(\.$heartbeatAt < cutoff).all()
        for job in stale {
            if job.attempts >= Self.maxAttempts {
                try await fail(job, error: "interrupted \(job.attempts) times",
                               details: job.kind == "export" ? "The export was interrupted \(job.attempts) times."
                                   : job.kind == "import" ? "The import was interrupted \(job.attempts) times."
                                   : "Training was interrupted \(job.attempts) times (the server stopped while it ran).")
            } else {
                try await Job.query(on: db).filter(\.$id == job.id!).filter(\.$state == "running")
                    .set(\.$state, to: "queued").set(\.$claimedBy, to: nil).update()
                guard job.kind == "train" else { continue }
                try await Iteration.query(on: db).filter(\.$id == job.iterationID).set(\.$progress, to: 0).update()
            }
        }
    }
}
