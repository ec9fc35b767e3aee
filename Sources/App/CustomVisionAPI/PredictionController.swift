import Fluent
import Vapor
import VisionEngine

/// Prediction API v3.0/v3.1: classify an image (multipart `imageData` or raw bytes) or a
/// URL, stored or not. The key's account must be the one the iteration is published to.
struct PredictionController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("customvision", ":version", "prediction").grouped(APIKeyAuthenticator(kind: .prediction), RateLimitMiddleware(kind: "prediction"))
        for kind in ["classify", "detect"] {
            for tail in [["image"], ["image", "nostore"], ["url"], ["url", "nostore"]] {
                let path: [PathComponent] = [":projectId", .constant(kind), "iterations", ":publishedName"] + tail.map { .constant($0) }
                p.on(.POST, path, body: .collect(maxSize: ByteCount(value: RequestBodyReader.prediction))) { req in
                    try await predict(req, detect: kind == "detect", url: tail[0] == "url", store: tail.count == 1)
                }
            }
        }
    }

    func predict(_ req: Request, detect: Bool, url: Bool, store: Bool) async throws -> WireImagePrediction {
        let account = req.account
        let name = req.parameters.get("publishedName") ?? ""
        guard let projectID = UUID(uuidString: req.parameters.get("projectId") ?? ""),
              let published = try await PublishedModels.shared.model(project: projectID, name: name, on: req.db),
              published.iteration.predictionAccountID == account.id else {
            throw CVError.notFound("NotFoundIteration", "No iteration is published as '\(name.prefix(64))' for this project and key.")
        }
        let detector = published.project.projectType == "ObjectDetection"
        guard detect == detector else {
            throw CVError.badRequest("BadRequestNotSupported", detector ? "This iteration is an object detector; use the detect route."
                                        : "This iteration is a classifier; use the classify route.")
        }
        let data = try await PredictionService.imageBytes(req, url: url)
        try PredictionService.validate(data)
        // The prediction account pays.
        return try await PredictionService(app: req.application, db: req.db).counted(account: account) { service in
            try await service.predict(project: published.project, iteration: published.iteration, data: data, store: store,
                                      withTagType: req.parameters.get("version")?.lowercased() != "v3.0", tags: published.tags)
        }
    }
}
