import Fluent
import Vapor

/// Prediction API v2.0, the seed's generation: `…/v2.0/Prediction/{projectId}/image|url[/nostore]`
/// with an optional `iterationId` (the project's default iteration when absent), classifier
/// or detector alike. The key must belong to the project's account or to another account of
/// its owner (v2 had no publishing step). Same prediction service as v3.
struct PredictionV2Controller: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("customvision", ":version", "prediction").grouped(V2Only(), APIKeyAuthenticator(kind: .prediction),
                                                                                 RateLimitMiddleware(kind: "prediction"))
        for tail in [["image"], ["image", "nostore"], ["url"], ["url", "nostore"]] {
            let path: [PathComponent] = [":projectId"] + tail.map { .constant($0) }
            p.on(.POST, path, body: .collect(maxSize: ByteCount(value: RequestBodyReader.prediction))) { req in
                try await predict(req, url: tail[0] == "url", store: tail.count == 1)
            }
        }
    }

    /// These paths exist in v2.0 only; v3 predicts through published names.
    struct V2Only: AsyncMiddleware {
        func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
            guard request.isV2 else {
                throw CVError.notFound("NotFound", "This path is the v2.0 Prediction API; v3 predicts with …/classify/iterations/{publishedName}/image.")
            }
            return try await next.respond(to: request)
        }
    }

    func predict(_ req: Request, url: Bool, store: Bool) async throws -> WireImagePrediction {
        let account = req.account
        let notFound = CVError.notFound("NotFoundProject", "Project not found for this key.")
        guard let id = UUID(uuidString: req.parameters.get("projectId") ?? ""), let project = try await Project.find(id, on: req.db),
              let owner = try await Account.find(project.accountID, on: req.db), owner.ownerID == account.ownerID else { throw notFound }
        let training = TrainingService(db: req.db)
        let iteration: Iteration
        if let raw = req.query[String.self, at: "iterationId"], !raw.isEmpty {
            iteration = try await training.iteration(project, id: raw)
        } else {
            iteration = try await training.defaultIteration(project)
        }
        guard iteration.status == "Completed" else {
            throw CVError.badRequest("BadRequestIterationIsNotTrained", "\(iteration.name) has not finished training.")
        }
        let data = try await PredictionService.imageBytes(req, url: url)
        try PredictionService.validate(data)
        return try await PredictionService(app: req.application, db: req.db).counted(account: account) { service in
            try await service.predict(project: project, iteration: iteration, data: data, store: store, withTagType: false)
        }
    }
}
