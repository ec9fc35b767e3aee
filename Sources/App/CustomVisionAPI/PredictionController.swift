import Vapor

/// Prediction API v3.0/v3.1 routes. Keys, versions and the tier's TPS limit are checked
/// now; since no iteration can be published until training lands, every publish name
/// is unknown.
struct PredictionController: RouteCollection {
    func boot(routes: RoutesBuilder) throws {
        let p = routes.grouped("customvision", ":version", "prediction").grouped(APIKeyAuthenticator(kind: .prediction), RateLimitMiddleware(kind: "prediction"))
        for kind in ["classify", "detect"] {
            for tail in [["image"], ["image", "nostore"], ["url"], ["url", "nostore"]] {
                let path: [PathComponent] = [":projectId", .constant(kind), "iterations", ":publishedName"] + tail.map { .constant($0) }
                p.on(.POST, path, body: .collect(maxSize: "6mb"), use: unpublished)
            }
        }
    }

    func unpublished(req: Request) async throws -> Response {
        let name = req.parameters.get("publishedName") ?? ""
        throw CVError.notFound("NotFoundIteration", "No iteration is published as '\(name.prefix(64))' for this project and key.")
    }
}
