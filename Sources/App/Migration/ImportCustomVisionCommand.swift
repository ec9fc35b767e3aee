import Fluent
import Foundation
import Vapor

/// `sightline import-customvision --from ENDPOINT --training-key KEY --account ACCOUNT
/// [--project ID[,ID…]] [--train]`: copies projects from Azure Custom Vision (or any server
/// speaking its Training API) into an account here. Safe to run again: it copies only
/// what is missing. Exits non-zero when a project failed or something did not fit.
struct ImportCustomVisionCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "from", help: "The source's endpoint, e.g. https://westeurope.api.cognitive.microsoft.com")
        var from: String?
        @Option(name: "training-key", help: "A training key of the source resource")
        var trainingKey: String?
        @Option(name: "account", help: "The account here to copy into: its id, resource id or name")
        var account: String?
        @Option(name: "project", help: "Source project ids to copy, separated by commas; all when absent")
        var project: String?
        @Flag(name: "train", help: "Train each copy and report its metrics beside the source's latest iteration")
        var train: Bool
    }

    var help: String { "Copies projects from Azure Custom Vision (tags, images, regions, metadata) into an account." }

    func run(using context: CommandContext, signature: Signature) async throws {
        guard let from = signature.from, let key = signature.trainingKey ?? ProcessInfo.processInfo.environment["CUSTOMVISION_TRAINING_KEY"],
              let accountName = signature.account else {
            context.console.error("Usage: sightline import-customvision --from ENDPOINT --training-key KEY --account ACCOUNT [--project ID[,ID…]] [--train]")
            throw ConfigError(message: "missing arguments")
        }
        let app = context.application
        try await app.autoMigrate()
        let account = try await Self.account(named: accountName, on: app.db)
        // Several projects are one comma-separated --project (the option parser takes each option once).
        var ids: [String] = []
        for id in (signature.project ?? "").split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) })
        where !id.isEmpty && !ids.contains(id) { ids.append(id) }
        let progress = CustomVisionImporter.Progress()
        // The endpoint is the operator's choice; where its answers point is not.
        let source = CustomVisionSource(endpoint: from, trainingKey: key, http: app.pinnedHTTP,
                                        policy: URLPolicy(enabled: true, allowLoopback: app.settings.imageURLAllowLoopback),
                                        trustedOrigin: CustomVisionSource.origin(from),
                                        onThrottle: { _ in progress.update { $0.throttled += 1 } })
        let importer = CustomVisionImporter(app: app, source: source, account: account)
        let terminal = isatty(STDOUT_FILENO) == 1
        let run = Task { await importer.run(projectIDs: ids, train: signature.train, progress: progress) }
        var shown = ""
        while true {
            let report = progress.report
            let line = Self.line(report)
            if line != shown {
                if terminal { print("\r\u{1B}[K" + line, terminator: "") } else { print(line) }
                fflush(stdout)
                shown = line
            }
            if report.finished { break }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        await run.value
        if terminal { print("") }
        let report = progress.report
        if let error = report.error { context.console.error("Import failed: \(error)") }
        for p in report.projects {
            print("\(p.name) → \(p.targetID ?? "(no project)"): \(p.state); \(p.copied) copied, \(p.alreadyThere) already here, "
                + "\(p.didNotFit) did not fit, \(p.failed) failed, of \(p.imagesTotal)")
            for note in p.notes { print("  \(note)") }
            if let t = p.training { print("  trained: \(t)") }
        }
        if report.throttled > 0 { print("The source asked to slow down (429) \(report.throttled) times; each was waited out.") }
        if report.error != nil || report.projects.contains(where: { $0.state == "failed" || $0.didNotFit > 0 || $0.failed > 0 || !$0.tagsNotCopied.isEmpty }) {
            throw ConfigError(message: "the import is incomplete (see above)")
        }
    }

    /// A progress bar of images copied over images to copy, across projects.
    static func line(_ r: CustomVisionImporter.Report) -> String {
        let total = r.projects.reduce(0) { $0 + $1.imagesTotal }, done = r.projects.reduce(0) { $0 + $1.imagesDone }
        let width = 30, filled = total == 0 ? 0 : min(width, width * done / total)
        let current = r.projects.first { $0.state == "copying" || $0.state == "training" }
        return "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
            + "\(done)/\(total) images, \(r.projects.filter { $0.state == "done" }.count)/\(r.projects.count) projects"
            + (current.map { " — \($0.state) \($0.name)" } ?? "")
    }

    static func account(named raw: String, on db: Database) async throws -> Account {
        if let id = UUID(uuidString: raw), let a = try await Account.find(id, on: db) { return a }
        let all = try await Account.query(on: db).all()
        if let a = all.first(where: { $0.resourceID.lowercased() == raw.lowercased() }) { return a }
        let named = all.filter { $0.name == raw }
        guard named.count == 1 else {
            throw ConfigError(message: named.isEmpty ? "no account \(raw): give its id, resource id or name"
                                                     : "\(named.count) accounts are named \(raw): give the id or resource id")
        }
        return named[0]
    }
}
