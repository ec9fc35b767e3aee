import Vapor

/// A request whose path names a route but whose method does not: answered 405 with the
/// methods the path takes (`Allow`), as ASP.NET answers, rather than 404 — a caller who
/// sent GET for a POST route is told what to change.
struct MethodNotAllowed: AsyncMiddleware {
    let routes: Routes

    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch let e as AbortError where e.status == .notFound && request.route == nil && ErrorResponder.isAPI(request.url.path) {
            // No route matched at all (a handler's own 404 has its route set).
            let list = Self.methods(for: request.url.path, in: routes.all).subtracting([request.method.rawValue]).sorted()
            guard !list.isEmpty else { throw e }
            throw CVError(.methodNotAllowed, "BadRequestNotSupported",
                          "\(request.method.rawValue) is not supported here; this path takes \(list.joined(separator: ", ")).",
                          headers: ["Allow": list.joined(separator: ", ")])
        }
    }

    /// The methods of every route whose path matches `path` (constants case-insensitively,
    /// as the router matches them).
    static func methods(for path: String, in routes: [Route]) -> Set<String> {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map { $0.lowercased() }
        return Set(routes.filter { matches($0.path, parts) }.map(\.method.rawValue))
    }

    static func matches(_ pattern: [PathComponent], _ parts: [String]) -> Bool {
        var i = 0
        for component in pattern {
            switch component {
            case .catchall: return i < parts.count
            case .constant(let c):
                guard i < parts.count, parts[i] == c.lowercased() else { return false }
            case .parameter, .anything:
                guard i < parts.count else { return false }
            }
            i += 1
        }
        return i == parts.count
    }
}
