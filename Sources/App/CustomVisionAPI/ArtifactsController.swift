import Vapor

/// `get_artifact`: a project's stored image, by the relative path its records name.
struct ArtifactsController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        routes.grouped("customvision", ":version", "training", "projects", ":projectId")
            .grouped(APIKeyAuthenticator(kind: .training))
            .get("artifacts", use: artifact)
    }

    func artifact(req: Request) async throws -> Response {
        let project = try await req.project()
        guard let path = req.query[String.self, at: "path"], !path.isEmpty else {
            throw CVError.badRequest("BadRequestRequiredParamIsNull", "The 'path' query parameter is required.")
        }
        let data = try await ArtifactService(db: req.db, blobs: req.application.blobStore)
            .artifact(project: project, path: path)
        let res = Response(status: .ok, body: .init(data: data))
        res.headers.replaceOrAdd(name: .contentType, value: BlobController.mediaType(data))
        return res
    }
}
