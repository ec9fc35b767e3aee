import Fluent
import Foundation

/// `export_project` and `import_project`: a signed token for a project, and a copy of it
/// into the caller's account, made by an `import` job (ProjectImportJob).
struct ProjectTransferService {
    let db: Database
    let domains: DomainCatalog
    let signer: BlobSigner

    struct Summary {
        var iterations, images, tags, regions: Int
        var estimatedImportMilliseconds: Int
        var token: String
    }

    /// Fitted to one measurement on the 2-core development machine: 5,000 images with a tag
    /// and a region each imported in 5.6 s (debug build, SQLite). Blobs are shared, so the
    /// time does not grow with image size.
    static func estimatedMilliseconds(images: Int, regions: Int) -> Int { 300 + images + regions / 10 }

    func export(_ project: Project, now: Date = Date()) async throws -> Summary {
        let id = project.id!
        let images = try await ImageRecord.query(on: db).filter(\.$projectID == id).count()
        let regions = try await ImageRegion.query(on: db).filter(\.$projectID == id).count()
        let token = ProjectExportToken(projectID: id, expires: now.addingTimeInterval(ProjectExportToken.lifetime), issued: now)
        return Summary(iterations: try await Iteration.query(on: db).filter(\.$projectID == id).count(),
                       images: images, tags: try await Tag.query(on: db).filter(\.$projectID == id).count(), regions: regions,
                       estimatedImportMilliseconds: Self.estimatedMilliseconds(images: images, regions: regions),
                       token: token.encoded(key: signer.key))
    }

    /// Checks the token, refuses what the account's quotas cannot hold, creates the project
    /// (status Importing) and queues the job that fills it.
    func startImport(account: Account, token raw: String, name: String?) async throws -> Project {
        let invalid = { (why: String) in CVError.badRequest("BadRequestInvalidImportToken", why) }
        let token: ProjectExportToken
        do { token = try ProjectExportToken.decode(raw.trimmingCharacters(in: .whitespaces), key: signer.key) } catch let e as ProjectExportToken.Invalid {
            switch e {
            case .expired: throw invalid("The import token has expired; export the project again for a new one.")
            case .malformed, .badSignature: throw invalid("The import token is not one this server issued.")
            }
        }
        guard let source = try await Project.find(token.projectID, on: db) else {
            throw invalid("The project this token exports no longer exists.")
        }
        guard source.status == "Succeeded" else { throw invalid("The project this token exports is itself still importing, or failed to.") }
        // What the token copies: the tags and images that existed when it was issued.
        let snapshot = token.issued
        var tagQuery = Tag.query(on: db).filter(\.$projectID == source.id!)
        var imageQuery = ImageRecord.query(on: db).filter(\.$projectID == source.id!)
        if let snapshot {
            tagQuery = tagQuery.filter(\.$createdAt <= snapshot)
            imageQuery = imageQuery.filter(\.$createdAt <= snapshot)
        }
        let tags = try await tagQuery.count()
        let images = try await imageQuery.count()
        // A new project starts at zero, so the limits alone say whether it fits.
        for (quota, need) in [(Quota.tagsPerProject, tags), (.imagesPerProject, images)] {
            if let limit = try await LimitResolver.limit(quota, for: account, on: db), need > limit {
                let code = CVError.quotaExceeded(QuotaLedger.Exceeded(quota: quota, limit: limit)).code
                throw CVError.badRequest(code, "A project of this account holds at most \(limit) \(quota == .tagsPerProject ? "tags" : "images"); the exported project has \(need). Nothing was imported.")
            }
        }
        let changes = ProjectChanges(domainID: source.domainID.uuidString, classificationType: source.classificationType,
                                     targetExportPlatforms: source.targetExportPlatforms,
                                     augmentationMethods: ProjectService.augmentation(of: source))
        let sourceID = source.id!
        // The project and the job that fills it are made together: no project is left Importing without one.
        let project = try await ProjectService(db: db, domains: domains).create(
            account: account, name: (name?.isEmpty ?? true) ? source.name : name!, description: source.description,
            changes: changes, status: "Importing") { tx, made in
                let job = Job()
                job.kind = "import"; job.iterationID = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
                job.projectID = made.id; job.sourceProjectID = sourceID; job.snapshotAt = snapshot
                job.state = "queued"; job.attempts = 0; job.createdAt = Date()
                try await job.create(on: tx)
            }
        JobWakeup.shared.signal()
        return project
    }
}
