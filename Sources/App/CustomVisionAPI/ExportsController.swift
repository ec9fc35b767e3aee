import Fluent
import Vapor

/// Training API: export_iteration and get_exports.
struct ExportsController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let t = routes.grouped("customvision", ":version", "training", "projects", ":projectId", "iterations", ":iterationId", "export")
            .grouped(APIKeyAuthenticator(kind: .training))
        t.get(use: list)
        t.post(use: export)
    }

    private func service(_ req: Request) -> ExportService { ExportService(db: req.db, domains: req.application.domainCatalog, settings: req.application.settings) }

    private func wire(_ e: Export, _ req: Request) -> WireExport {
        WireExport(e, signer: req.application.blobSigner, base: req.application.settings.publicURL)
    }

    private func iteration(_ req: Request, _ p: Project) async throws -> Iteration {
        try await TrainingService(db: req.db).iteration(p, id: req.parameters.get("iterationId") ?? "")
    }

    func list(req: Request) async throws -> [WireExport] {
        let it = try await iteration(req, try await req.project())
        return try await service(req).exports(it).map { wire($0, req) }
    }

    func export(req: Request) async throws -> WireExport {
        let p = try await req.project()
        let e = try await service(req).request(project: p, iteration: try await iteration(req, p),
                                               platform: req.query[String.self, at: "platform"], flavor: req.query[String.self, at: "flavor"])
        return wire(e, req)
    }
}
