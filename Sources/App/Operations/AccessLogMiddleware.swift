import Vapor

/// One log line per request: method, route (the pattern, not the path, so no ids or
/// query strings), status, duration and the account it ran for. Never a key or a token.
struct AccessLogMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let response = try await next.respond(to: request)
        guard request.logger.logLevel <= .info else { return response }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        var metadata: Logger.Metadata = [
            "method": .string(request.method.rawValue),
            "route": .string(Self.route(request)),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .string(String(format: "%.1f", ms)),
        ]
        if let account = request.storage[AccountStorageKey.self]?.id { metadata["account"] = .string(account.uuidString.lowercased()) }
        if let user = request.portalUser?.id { metadata["user"] = .string(user.uuidString.lowercased()) }
        request.logger.info("request", metadata: metadata)
        return response
    }

    /// The matched route's pattern (`/customvision/:version/training/projects/:projectId`), or
    /// `unmatched` when no route matched (static files, 404s).
    static func route(_ request: Request) -> String {
        guard let r = request.route else { return "unmatched" }
        return "/" + r.path.map { $0.description }.joined(separator: "/")
    }
}
