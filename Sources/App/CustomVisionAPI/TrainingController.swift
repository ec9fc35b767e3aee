import Fluent
import Vapor

/// Training API v3.0–v3.4-preview: domains, projects and tags. Handlers parse, then
/// call one service method; the API key's account scopes every lookup.
struct TrainingController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let t = routes.grouped("customvision", ":version", "training").grouped(APIKeyAuthenticator(kind: .training))
        t.get("domains", use: domains)
        t.get("domains", ":domainId", use: domain)
        t.get("projects", use: listProjects)
        t.post("projects", use: createProject)
        t.post("projects", "import", use: importProject)
        t.get("projects", ":projectId", use: getProject)
        t.patch("projects", ":projectId", use: updateProject)
        t.delete("projects", ":projectId", use: deleteProject)
        t.get("projects", ":projectId", "export", use: exportProject)
        t.get("projects", ":projectId", "tags", use: listTags)
        t.post("projects", ":projectId", "tags", use: createTag)
        t.get("projects", ":projectId", "tags", ":tagId", use: getTag)
        t.patch("projects", ":projectId", "tags", ":tagId", use: updateTag)
        t.delete("projects", ":projectId", "tags", ":tagId", use: deleteTag)
    }

    private func projects(_ req: Request) -> ProjectService {
        ProjectService(db: req.db, domains: req.application.domainCatalog)
    }

    private func project(_ req: Request) async throws -> Project {
        try await req.project()
    }

    /// Reads an optional query string value.
    private func query(_ req: Request, _ name: String) throws -> String? {
        req.query[String.self, at: name]
    }

    func domains(req: Request) async throws -> [WireDomain] {
        req.application.domainCatalog.domains.map(WireDomain.init)
    }

    func domain(req: Request) async throws -> WireDomain {
        guard let id = UUID(uuidString: req.parameters.get("domainId") ?? ""),
              let d = req.application.domainCatalog.domain(id) else {
            throw CVError.notFound("NotFoundDomain", "Domain not found.")
        }
        return WireDomain(d)
    }

    func listProjects(req: Request) async throws -> [WireProject] {
        try await WireProject.make(try await projects(req).list(account: req.account), req: req)
    }

    func createProject(req: Request) async throws -> WireProject {
        guard let name = try query(req, "name") else {
            throw CVError.badRequest("BadRequestProjectName", "The 'name' query parameter is required.")
        }
        let body = (req.body.data?.readableBytes ?? 0) > 0 ? try req.wireBody(WireCreateProjectOptions.self) : nil
        let options = ProjectCreateOptions(exportModelContainerURI: body?.exportModelContainerUri,
                                           notificationQueueURI: body?.notificationQueueUri)
        let platforms = try query(req, "targetExportPlatforms")
        let changes = ProjectChanges(domainID: try query(req, "domainId"),
                                     classificationType: try query(req, "classificationType"),
                                     targetExportPlatforms: platforms.map { $0.split(separator: ",").map(String.init) })
        let p = try await projects(req).create(account: req.account, name: name,
                                               description: try query(req, "description"), changes: changes, options: options)
        return WireProject(p)
    }

    func getProject(req: Request) async throws -> WireProject {
        try await WireProject.make(try await project(req), req: req)
    }

    func updateProject(req: Request) async throws -> WireProject {
        let body = try req.wireBody(WireProjectUpdate.self)
        let p = try await projects(req).update(account: req.account, id: req.parameters.get("projectId") ?? "",
                                               changes: body.changes)
        return try await WireProject.make(p, req: req)
    }

    func deleteProject(req: Request) async throws -> Response {
        try await projects(req).delete(account: req.account, id: req.parameters.get("projectId") ?? "")
        return .noContent
    }

    private func transfers(_ req: Request) -> ProjectTransferService {
        ProjectTransferService(db: req.db, domains: req.application.domainCatalog, signer: req.application.blobSigner)
    }

    func exportProject(req: Request) async throws -> WireProjectExport {
        WireProjectExport(try await transfers(req).export(try await project(req)))
    }

    func importProject(req: Request) async throws -> WireProject {
        guard let token = try query(req, "token"), !token.isEmpty else {
            throw CVError.badRequest("BadRequestRequiredParamIsNull", "The 'token' query parameter is required.")
        }
        return WireProject(try await transfers(req).startImport(account: req.account, token: token, name: try query(req, "name")))
    }

    func listTags(req: Request) async throws -> [WireTag] {
        let p = try await project(req)
        if let it = try await ImagesController.trainingSet(req, project: p) {
            let queries = TrainingSetQueries(db: req.db)
            let counts = try await queries.imageCounts(iteration: it.id!)
            return try await (queries.tags(iteration: it.id!) ?? []).map { WireTag($0, imageCount: counts[$0.id!] ?? 0) }
        }
        let counts = try await ImageService(db: req.db).imageCounts(project: p)
        return try await TagService(db: req.db).list(project: p).map { WireTag($0, imageCount: counts[$0.id!] ?? 0) }
    }

    func createTag(req: Request) async throws -> WireTag {
        let p = try await project(req)
        guard let name = try query(req, "name") else {
            throw CVError.badRequest("BadRequestTagName", "The 'name' query parameter is required.")
        }
        let tag = try await TagService(db: req.db).create(account: req.account, project: p, name: name,
                                                          description: try query(req, "description"),
                                                          type: try query(req, "type"))
        return WireTag(tag)
    }

    func getTag(req: Request) async throws -> WireTag {
        let p = try await project(req)
        if let it = try await ImagesController.trainingSet(req, project: p) {
            let queries = TrainingSetQueries(db: req.db)
            let id = UUID(uuidString: req.parameters.get("tagId") ?? "")
            guard let tag = try await queries.tags(iteration: it.id!)?.first(where: { $0.id == id }) else {
                throw CVError.notFound("NotFoundTag", "The iteration did not train on that tag.")
            }
            return WireTag(tag, imageCount: try await queries.imageCounts(iteration: it.id!)[tag.id!] ?? 0)
        }
        let tag = try await TagService(db: req.db).find(project: p, id: req.parameters.get("tagId") ?? "")
        return WireTag(tag, imageCount: try await ImageService(db: req.db).imageCounts(project: p)[tag.id!] ?? 0)
    }

    func updateTag(req: Request) async throws -> WireTag {
        let p = try await project(req)
        let body = try req.wireBody(WireTagUpdate.self)
        let tag = try await TagService(db: req.db).update(project: p, id: req.parameters.get("tagId") ?? "",
                                                          name: body.name, description: body.description, type: body.type)
        return WireTag(tag, imageCount: try await ImageService(db: req.db).imageCounts(project: p)[tag.id!] ?? 0)
    }

    func deleteTag(req: Request) async throws -> Response {
        let p = try await project(req)
        try await TagService(db: req.db).delete(account: req.account, project: p, id: req.parameters.get("tagId") ?? "")
        return .noContent
    }
}
