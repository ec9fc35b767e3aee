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
    private let local = NIOLockedValueBox<[UUID: (progress: CustomVisionImporter.Progress, mirror: Task<Void, Never>?)]>([:])

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

    /// Unfinished runs at once: one per user (across nodes: a unique index), and a few in
    /// this process. Each holds a few images in memory and a source connection.
    static let inProcess = 4
    static let beat: TimeInterval = 1
    static let staleAfter: TimeInterval = 15

    struct Busy: Error { let message: String }

    func start(user: UUID, account: Account, endpoint: String, importer: CustomVisionImporter,
               projects: [String], train: Bool, progress: CustomVisionImporter.Progress) async throws -> UUID {
        let id = UUID(), now = Self.now(sql)
        try local.withLockedValue { runs in
            if runs.values.filter({ !$0.progress.report.finished }).count >= Self.inProcess {
                throw Busy(message: "\(Self.inProcess) imports are running on this server; try again when one has finished.")
            }
            runs[id] = (progress, nil)   // holds its slot; the mirror starts once the row is in
        }
        do {
            // A run whose node stopped beating is over; runs finished a week ago are forgotten.
            try await sql.raw("""
                UPDATE import_runs SET finished = 1 WHERE user_id = \(bind: Self.text(user)) AND finished = 0 \
                AND heartbeat_at < \(unsafeRaw: now) - \(bind: Self.staleAfter)
                """).run()
            try await sql.raw("DELETE FROM import_runs WHERE finished = 1 AND started_at < \(unsafeRaw: now) - \(bind: Self.keptSeconds)").run()
            // The unique index on unfinished runs makes this the one check, across nodes.
            let inserted = try await sql.raw("""
                INSERT INTO import_runs (id, user_id, account_id, endpoint, started_at, heartbeat_at, report) VALUES \
                (\(bind: Self.text(id)), \(bind: Self.text(user)), \(bind: Self.text(account.id!)), \(bind: endpoint), \
                \(unsafeRaw: now), \(unsafeRaw: now), \(bind: try Self.json(progress.report))) ON CONFLICT DO NOTHING RETURNING id
                """).all()
            guard !inserted.isEmpty else {
                throw Busy(message: "Your last import is still running; wait for it to finish or cancel it.")
            }
        } catch {
            _ = local.withLockedValue { $0.removeValue(forKey: id) }
            throw error
        }
        progress.attach(Task { await importer.run(projectIDs: projects, train: train, progress: progress) })
        let mirror = Task { [self] in await self.mirror(id, progress) }
        local.withLockedValue { $0[id]?.mirror = mirror }
        Task { await Self.watch(progress) }
        return id
    }

    /// Writes the report and a heartbeat every beat until the finished report is written;
    /// a cancel request set on any node cancels the run here.
    private func mirror(_ id: UUID, _ progress: CustomVisionImporter.Progress) async {
        while !Task.isCancelled {
            let report = progress.report
            var written = false
            do {
                let row = try await sql.raw("""
                    UPDATE import_runs SET report = \(bind: try Self.json(report)), heartbeat_at = \(unsafeRaw: Self.now(sql)), \
                    finished = \(bind: report.finished ? 1 : 0) WHERE id = \(bind: Self.text(id)) RETURNING cancel_requested
                    """).first()
                written = true
                if try row?.decode(column: "cancel_requested", as: Int.self) == 1, !report.cancelled { progress.cancel() }
            } catch {}
            if report.finished, written { break }
            try? await Task.sleep(nanoseconds: UInt64(Self.beat * 1e9))
        }
        _ = local.withLockedValue { $0.removeValue(forKey: id) }
    }

    /// The database's clock in seconds since 1970: nodes whose clocks differ agree on a heartbeat's age.
    static func now(_ sql: SQLDatabase) -> String {
        sql.dialect.name == "postgresql" ? "extract(epoch from clock_timestamp())" : "((julianday('now') - 2440587.5) * 86400.0)"
    }

    /// Finished runs are shown this long.
    static let keptSeconds: TimeInterval = 7 * 86_400

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
            SELECT account_id, endpoint, report, finished, \(unsafeRaw: Self.now(sql)) - heartbeat_at AS silent FROM import_runs \
            WHERE id = \(bind: Self.text(id)) AND user_id = \(bind: Self.text(user))
            """).first() else { return nil }
        var report = try JSONDecoder().decode(CustomVisionImporter.Report.self, from: Data(try row.decode(column: "report", as: String.self).utf8))
        if !report.finished, try row.decode(column: "silent", as: Double.self) > Self.staleAfter {
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
            run.mirror?.cancel()
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
