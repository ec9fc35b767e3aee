import Fluent
import Vapor

/// Export requests and their state. Building happens in an `export` job (ExportJob).
struct ExportService {
    let db: Database
    let domains: DomainCatalog
    /// Where exports are written: none starts while the disk is below `MIN_FREE_DISK_MB`.
    let settings: Settings

    /// Starts an export of a trained iteration, or returns the one already running or done
    /// for the same platform and flavor; a failed one is started again.
    func request(project: Project, iteration it: Iteration, platform: String?, flavor: String?) async throws -> Export {
        switch it.status {
        case "Completed" where it.modelHash != nil: break
        case "Training": throw CVError.badRequest("BadRequestExportWhileTraining", "The iteration is still training; export it when it has finished.")
        default: throw CVError.badRequest("BadRequestIterationIsNotTrained", "The iteration has no trained model (status \(it.status)).")
        }
        let target = try ExportTarget.parse(platform: platform, flavor: flavor,
                                            allowed: ExportTarget.allowed(domain: domains.domain(it.domainID), project: project))
        let iterationID = it.id!, projectID = project.id!
        if let existing = try await Self.find(iterationID, target, on: db), existing.status != "Failed" { return existing }
        try StorageSpace.refuseWritesIfLow(settings: settings)
        do {
            let export = try await db.writeTransaction { tx in
                if let existing = try await Self.find(iterationID, target, on: tx) {
                    guard existing.status == "Failed" else { return existing }
                    existing.status = "Exporting"; existing.error = nil; existing.blobHash = nil
                    try await existing.save(on: tx)
                    try await JobQueue(db: tx).enqueue(kind: "export", iteration: iterationID, export: existing.id!, on: tx)
                    return existing
                }
                let e = Export()
                e.iterationID = iterationID; e.projectID = projectID; e.platform = target.platform; e.flavor = target.flavor
                e.status = "Exporting"; e.createdAt = Date()
                try await e.create(on: tx)
                try await JobQueue(db: tx).enqueue(kind: "export", iteration: iterationID, export: e.id!, on: tx)
                return e
            }
            JobWakeup.shared.signal()
            return export
        } catch {
            // A concurrent request inserted the same export first (unique index): answer with it.
            if let existing = try await Self.find(iterationID, target, on: db) { return existing }
            throw error
        }
    }

    private static func find(_ iteration: UUID, _ t: ExportTarget, on db: Database) async throws -> Export? {
        try await Export.query(on: db).filter(\.$iterationID == iteration).filter(\.$platform == t.platform)
            .filter(\.$flavor == t.flavor).first()
    }

    func exports(_ it: Iteration) async throws -> [Export] {
        try await Export.query(on: db).filter(\.$iterationID == it.id!).sort(\.$createdAt).all()
    }
}
