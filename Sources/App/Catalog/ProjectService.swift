import Fluent
import SQLKit
import Vapor

/// What a caller may change on a project (PATCH body or portal form).
struct ProjectChanges: Sendable {
    var name: String?
    var description: String?
    var domainID: String?
    var classificationType: String?
    var targetExportPlatforms: [String]?
    var augmentationMethods: [String: Bool]?
}

/// `CreateProjectOptions`: absolute http(s) URIs, kept as given.
struct ProjectCreateOptions: Sendable {
    var exportModelContainerURI: String?
    var notificationQueueURI: String?

    static let maxLength = 2048

    func validated() throws -> ProjectCreateOptions {
        for (field, value) in [("exportModelContainerUri", exportModelContainerURI), ("notificationQueueUri", notificationQueueURI)] {
            guard let value else { continue }
            let url = value.count <= Self.maxLength ? URL(string: value) : nil
            guard let url, ["https", "http"].contains(url.scheme?.lowercased() ?? ""), !(url.host ?? "").isEmpty else {
                throw CVError.badRequest("BadRequestInvalidUri", "\(field) must be an absolute http(s) URI of at most \(Self.maxLength) characters.")
            }
        }
        return self
    }
}

/// Projects of one account. Every lookup is scoped by account: another account's
/// project is indistinguishable from a missing one.
struct ProjectService {
    let db: Database
    let domains: DomainCatalog

    static let exportPlatforms = ["CoreML", "TensorFlow", "DockerFile", "ONNX", "VAIDK", "OpenVino"]
    static let defaultAugmentation: [String: Bool] = [
        "rotation": true, "scaling": true, "translation": true, "horizontal flip": true,
        "equalize": true, "solarize": true, "padtosquare": true,
    ]

    func list(account: Account) async throws -> [Project] {
        try await Project.query(on: db).filter(\.$accountID == account.id!).sort(\.$createdAt).all()
    }

    func find(account: Account, id: String) async throws -> Project {
        guard let uuid = UUID(uuidString: id),
              let p = try await Project.find(uuid, on: db), p.accountID == account.id else {
            throw CVError.projectNotFound
        }
        return p
    }

    func create(account: Account, name: String, description: String?, changes: ProjectChanges,
                options: ProjectCreateOptions = .init(), status: String = "Succeeded",
                alsoInTransaction: (@Sendable (Database, Project) async throws -> Void)? = nil) async throws -> Project {
        let p = Project()
        p.accountID = account.id!
        p.status = status
        let options = try options.validated()
        p.exportModelContainerURI = options.exportModelContainerURI
        p.notificationQueueURI = options.notificationQueueURI
        p.description = ""
        p.targetExportPlatforms = []
        p.settingsJSON = try Self.encodeAugmentation(Self.defaultAugmentation)
        var c = changes
        c.name = name
        c.description = description
        if c.domainID == nil { c.domainID = DomainCatalog.generalClassification.uuidString }
        try await apply(c, to: p, account: account, isNew: true)
        try await db.transaction { tx in
            try await QuotaLedger.consume(.projects, account: account, on: tx)
            try await p.create(on: tx)
            try await alsoInTransaction?(tx, p)
        }
        return p
    }

    func update(account: Account, id: String, changes: ProjectChanges) async throws -> Project {
        defer { PublishedModels.shared.invalidateAll() }
        let p = try await find(account: account, id: id)
        try await apply(changes, to: p, account: account, isNew: false)
        try await p.save(on: db)
        return p
    }

    func delete(account: Account, id: String) async throws {
        defer { PublishedModels.shared.invalidateAll() }
        let p = try await find(account: account, id: id)
        if try await Iteration.query(on: db).filter(\.$projectID == p.id!).filter(\.$publishName != nil).count() > 0 {
            throw CVError.badRequest("BadRequestIterationIsPublished", "You cannot delete a project with published iterations; unpublish them first.")
        }
        let iterations = try await Iteration.query(on: db).filter(\.$projectID == p.id!).all().compactMap(\.id)
        try await db.transaction { tx in
            try await QuotaLedger.release(.projects, account: account, on: tx)
            try await Job.query(on: tx).filter(\.$iterationID ~~ iterations).filter(\.$state ~~ ["queued", "running"])
                .set(\.$state, to: "cancelled").update()
            try await Job.query(on: tx).filter(\.$projectID == p.id!).filter(\.$state ~~ ["queued", "running"])
                .set(\.$state, to: "cancelled").update()
            try await Tag.query(on: tx).filter(\.$projectID == p.id!).delete()
            try await QuotaLedger.forgetProject(p.id!, account: account, on: tx)
            try await p.delete(on: tx)
        }
    }

    private func apply(_ c: ProjectChanges, to p: Project, account: Account, isNew: Bool) async throws {
        if let name = c.name {
            guard TextRules.validName(name, max: 256) else {
                throw CVError.badRequest("BadRequestProjectName", "Project name must be 1 to 256 characters without control characters.")
            }
            p.name = name.trimmingCharacters(in: .whitespaces)
        }
        if let d = c.description {
            guard TextRules.validDescription(d, max: 4096) else {
                throw CVError.badRequest("BadRequestProjectDescription", "Project description must be at most 4096 characters without control characters.")
            }
            p.description = d
        }
        var domain = isNew ? nil : domains.domain(p.domainID)
        if let raw = c.domainID, !raw.isEmpty {
            guard let id = UUID(uuidString: raw), let d = domains.domain(id) else {
                throw CVError.badRequest("BadRequestProjectUnknownDomain", "Unknown domain '\(raw.prefix(64))'.")
            }
            if !isNew, let old = domain, old.type != d.type {
                throw CVError.badRequest("BadRequestProjectUnsupportedDomainTypeChange",
                                         "A project cannot change from \(old.type) to \(d.type).")
            }
            if d.isObjectDetection, !(try await LimitResolver.objectDetectionEnabled(for: account, on: db)) {
                throw CVError.badRequest("BadRequestNotSupported", "Object detection is not enabled on this account's tier.")
            }
            domain = d
            p.domainID = d.id
            p.projectType = d.type
            if d.isObjectDetection { p.classificationType = nil }
            else if isNew { p.classificationType = "Multilabel" }
        }
        if let raw = c.classificationType, !raw.isEmpty, domain?.isObjectDetection != true {
            guard let ct = ["Multiclass", "Multilabel"].first(where: { $0.lowercased() == raw.lowercased() }) else {
                throw CVError.badRequest("BadRequestProjectUnknownClassification", "Unknown classification type '\(raw.prefix(64))'.")
            }
            p.classificationType = ct
        }
        if let platforms = c.targetExportPlatforms {
            var chosen: [String] = []
            for raw in platforms where !raw.isEmpty {
                guard let name = Self.exportPlatforms.first(where: { $0.lowercased() == raw.lowercased() }),
                      domain?.exportablePlatforms.contains(name) == true else {
                    throw CVError.badRequest("BadRequestProjectUnsupportedExportPlatform",
                                             "Export platform '\(raw.prefix(64))' is not supported by this project's domain.")
                }
                if !chosen.contains(name) { chosen.append(name) }
            }
            p.targetExportPlatforms = chosen
        }
        if let aug = c.augmentationMethods {
            guard aug.count <= 32, aug.keys.allSatisfy({ TextRules.validName($0, max: 64) }) else {
                throw CVError.badRequest("BadRequestProjectImagePreprocessingSettings", "Invalid augmentation methods.")
            }
            p.settingsJSON = try Self.encodeAugmentation(aug)
        }
    }

    static func encodeAugmentation(_ m: [String: Bool]) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        return String(decoding: try enc.encode(m), as: UTF8.self)
    }

    static func augmentation(of p: Project) -> [String: Bool] {
        (try? JSONDecoder().decode([String: Bool].self, from: Data(p.settingsJSON.utf8))) ?? defaultAugmentation
    }

    /// Each project's first image's thumbnail hash (projects without images are absent):
    /// one seek of the (project, creation) index per project, the lower id winning a tie.
    static func firstThumbnails(_ projects: [UUID], on db: Database) async throws -> [UUID: String] {
        guard !projects.isEmpty else { return [:] }
        let rows = try await (db as! SQLDatabase).raw("""
            SELECT p.id AS project_id, (SELECT f.thumbnail_hash FROM images f WHERE f.project_id = p.id
                                        ORDER BY f.created_at, f.id LIMIT 1) AS thumbnail_hash
            FROM projects p WHERE p.id IN (\(binds: projects.map { $0 as any Encodable & Sendable }))
            """).all()
        var out: [UUID: String] = [:]
        for row in rows {
            if let hash = try row.decode(column: "thumbnail_hash", as: String?.self) {
                out[try row.decode(column: "project_id", as: UUID.self)] = hash
            }
        }
        return out
    }
}
