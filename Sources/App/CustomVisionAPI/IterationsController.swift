import Fluent
import Vapor

/// Training API: train_project, iterations, performance, publish/unpublish.
struct IterationsController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let t = routes.grouped("customvision", ":version", "training", "projects", ":projectId")
            .grouped(APIKeyAuthenticator(kind: .training))
        t.post("train", use: train)
        t.get("iterations", use: list)
        t.get("iterations", ":iterationId", use: get)
        t.patch("iterations", ":iterationId", use: update)
        t.delete("iterations", ":iterationId", use: delete)
        t.get("iterations", ":iterationId", "performance", use: performance)
        t.post("iterations", ":iterationId", "publish", use: publish)
        t.delete("iterations", ":iterationId", "publish", use: unpublish)
    }

    private func service(_ req: Request) -> TrainingService { TrainingService(db: req.db) }

    private func iteration(_ req: Request, _ p: Project) async throws -> Iteration {
        try await service(req).iteration(p, id: req.parameters.get("iterationId") ?? "")
    }

    private func wire(_ it: Iteration, _ req: Request) -> WireIteration { WireIteration(it, domains: req.application.domainCatalog) }

    func train(req: Request) async throws -> WireIteration {
        let p = try await req.project()
        let budget = req.query[String.self, at: "reservedBudgetInHours"].map { Int($0) } ?? 0
        guard let budget else { throw CVError.badRequest("BadRequest", "reservedBudgetInHours must be a whole number.") }
        let force = req.query[String.self, at: "forceTrain"]?.lowercased() == "true"
        if let email = req.query[String.self, at: "notificationEmailAddress"], !email.isEmpty, !UserService.validEmail(email) {
            throw CVError.badRequest("BadRequestInvalidEmailAddress", "notificationEmailAddress is not an email address.")
        }
        let it = try await service(req).train(account: req.account, project: p, trainingType: req.query[String.self, at: "trainingType"],
                                              budgetHours: budget, force: force)
        return wire(it, req)
    }

    func list(req: Request) async throws -> [WireIteration] {
        try await service(req).iterations(try await req.project()).map { wire($0, req) }
    }

    func get(req: Request) async throws -> WireIteration {
        wire(try await iteration(req, try await req.project()), req)
    }

    func update(req: Request) async throws -> WireIteration {
        let it = try await iteration(req, try await req.project())
        guard let name = try req.content.decode(WireIterationUpdate.self).name else {
            throw CVError.badRequest("BadRequestIterationName", "name is required.")
        }
        return wire(try await service(req).rename(it, to: name), req)
    }

    func delete(req: Request) async throws -> Response {
        let p = try await req.project()
        try await service(req).delete(account: req.account, project: p, try await iteration(req, p))
        return .noContent
    }

    func performance(req: Request) async throws -> WireIterationPerformance {
        let p = try await req.project()
        let it = try await iteration(req, p)
        var threshold: Float = 0.5
        if let raw = req.query[String.self, at: "threshold"] {
            guard let t = Float(raw), t >= 0, t <= 1 else { throw CVError.badRequest("BadRequest", "threshold is between 0 and 1.") }
            threshold = t
        }
        let (_, s) = try service(req).performance(it, threshold: threshold)
        let names = try await ImageService(db: req.db).projectTags(p)
        return WireIterationPerformance(
            perTagPerformance: s.perTag.map { t in
                WireTagPerformance(id: t.tagID, name: UUID(uuidString: t.tagID).flatMap { names[$0]?.name } ?? "",
                                   precision: t.precision, precisionStdDeviation: t.precisionStdDeviation, recall: t.recall,
                                   recallStdDeviation: t.recallStdDeviation, averagePrecision: t.averagePrecision)
            },
            precision: s.precision, precisionStdDeviation: s.precisionStdDeviation, recall: s.recall,
            recallStdDeviation: s.recallStdDeviation, averagePrecision: s.averagePrecision)
    }

    func publish(req: Request) async throws -> Response {
        let p = try await req.project()
        let it = try await iteration(req, p)
        guard let name = req.query[String.self, at: "publishName"], let target = req.query[String.self, at: "predictionId"] else {
            throw CVError.badRequest("BadRequestRequiredParamIsNull", "publishName and predictionId are required.")
        }
        try await service(req).publish(project: p, it, name: name, predictionID: target,
                                       overwrite: req.query[String.self, at: "overwrite"]?.lowercased() == "true")
        return try .jsonScalar(true)
    }

    func unpublish(req: Request) async throws -> Response {
        try await service(req).unpublish(try await iteration(req, try await req.project()))
        return .noContent
    }
}
