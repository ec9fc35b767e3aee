import Crypto
import Fluent
import Foundation
import NIOConcurrencyHelpers
import SQLKit
import Vapor

/// The portal's imports from Custom Vision, each visible to the user who started it, on
/// any node: a run copies on the node that started it, which writes its report and a
/// heartbeat to the database every second and picks up a cancel request any node sets.
/// A run whose node stopped beating is shown as stopped (starting it again copies only what
/// is missing). The lists of a source's projects live in the database too, their training
/// key sealed with a key derived from BLOB_SIGNING_KEY, which every node shares.
final class CustomVisionImportRuns: LifecycleHandler, @unchecked Sendable {
    let db: Database
    let sealingKey: SymmetricKey
    /// Runs copying in this process, with the tasks that mirror them into the database.
    private let local = NIOLockedValueBox<[UUID: (progress: CustomVisionImporter.Progress, mirror: Task<Void, Never>)]>([:])

    init(db: Database, signingKey: SymmetricKey) {
        self.db = db
        sealingKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: signingKey, info: Data("sightline import listings".utf8), outputByteCount: 32)
    }

    private var sql: SQLDatabase { db as! SQLDatabase }

    /// What a run's page shows.
    struct Run {
        let accountID: UUID
        let endpoint: String
        let report: CustomVisionImporter.Report
    }

    /// Unfinished runs at once: per user (across nodes), and in this process. Each holds a
    /// few images in memory and a source connection.
    static let perUser = 1
    static let inProcess = 4
    static let beat: TimeInterval = 1
    static let staleAfter: TimeInterval = 15

    struct Busy: Error { let message: String }

    func start(user: UUID, account: Account, endpoint: String, importer: CustomVisionImporter,
               projects: [String], train: Bool, progress: CustomVisionImporter.Progress) async throws -> UUID {
        let now = Date().timeIntervalSince1970
        let mine = try await sql.raw("""
            SELECT count(*) AS n FROM import_runs WHERE user_id = \(bind: Self.text(user)) AND finished = 0 \
            AND heartbeat_at > \(bind: now - Self.staleAfter)
            """).first()?.decode(column: "n", as: Int.self) ?? 0
        if mine >= Self.perUser {
            throw Busy(message: "Your last import is still running; wait for it to finish or cancel it.")
        }
        let id = UUID()
        try local.withLockedValue { runs in
            if runs.values.filter({ !$0.progress.report.finished }).count >= Self.inProcess {
                throw Busy(message: "\(Self.inProcess) imports are running on this server; try again when one has finished.")
            }
            runs[id] = (progress, Task {})
        }
        let report = try Self.json(progress.report)
        try await sql.raw("""
            INSERT INTO import_runs (id, user_id, account_id, endpoint, started_at, heartbeat_at, report) VALUES \
            (\(bind: Self.text(id)), \(bind: Self.text(user)), \(bind: Self.text(account.id!)), \(bind: endpoint), \
            \(bind: now), \(bind: now), \(bind: report))
            """).run()
        progress.attach(Task { await importer.run(projectIDs: projects, train: train, progress: progress) })
        let mirror = Task { [self] in await self.mirror(id, progress) }
        local.withLockedValue { $0[id]?.mirror = mirror }
        Task { await Self.watch(progress) }
        return id
    }

    /// Writes the report and a heartbeat every beat until the run ends; a cancel request
    /// set on any node cancels it here.
    private func mirror(_ id: UUID, _ progress: CustomVisionImporter.Progress) async {
        while !Task.isCancelled {
            let report = progress.report
            do {
                let row = try await sql.raw("""
                    UPDATE import_runs SET report = \(bind: try Self.json(report)), heartbeat_at = \(bind: Date().timeIntervalSince1970), \
                    finished = \(bind: report.finished ? 1 : 0) WHERE id = \(bind: Self.text(id)) RETURNING cancel_requested
                    """).first()
                if try row?.decode(column: "cancel_requested", as: Int.self) == 1, !report.cancelled { progress.cancel() }
            } catch {}
            if report.finished { break }
            try? await Task.sleep(nanoseconds: UInt64(Self.beat * 1e9))
        }
        _ = local.withLockedValue { $0.removeValue(forKey: id) }
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

    func run(_ id: UUID, user: UUID) async throws -> Run? {
        guard let row = try await sql.raw("""
            SELECT account_id, endpoint, report, finished, heartbeat_at FROM import_runs \
            WHERE id = \(bind: Self.text(id)) AND user_id = \(bind: Self.text(user))
            """).first() else { return nil }
        var report = try JSONDecoder().decode(CustomVisionImporter.Report.self, from: Data(try row.decode(column: "report", as: String.self).utf8))
        let beat = try row.decode(column: "heartbeat_at", as: Double.self)
        if !report.finished, Date().timeIntervalSince1970 - beat > Self.staleAfter {
            report.finished = true
            report.error = "The server running this import stopped. Importing again copies only what is missing."
        }
        return Run(accountID: UUID(uuidString: try row.decode(column: "account_id", as: String.self))!,
                   endpoint: try row.decode(column: "endpoint", as: String.self), report: report)
    }

    /// Asks the node running it to stop the run after the images it is copying now.
    func cancel(_ id: UUID, user: UUID) async throws {
        try await sql.raw("""
            UPDATE import_runs SET cancel_requested = 1 WHERE id = \(bind: Self.text(id)) AND user_id = \(bind: Self.text(user))
            """).run()
        local.withLockedValue { $0[id] }?.progress.cancel()
    }

    func shutdown(_ application: Application) {
        for run in local.withLockedValue({ Array($0.values) }) {
            run.progress.cancel()
            run.mirror.cancel()
        }
    }

    static func text(_ id: UUID) -> String { id.uuidString.lowercased() }

    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }
}

struct CustomVisionImportRunsKey: StorageKey { typealias Value = CustomVisionImportRuns }

extension Application {
    var customVisionImports: CustomVisionImportRuns {
        get { storage[CustomVisionImportRunsKey.self]! }
        set { storage[CustomVisionImportRunsKey.self] = newValue }
    }
}
