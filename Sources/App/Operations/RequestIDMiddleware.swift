import Vapor

/// Echoes a request id (the caller's `X-Request-Id`, or Vapor's own) on every
/// response and tags the request's log lines with it.
struct RequestIDMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        let incoming = request.headers.first(name: "X-Request-Id").flatMap { id -> String? in
            id.count <= 128 && id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) ? id : nil
        }
        let id = incoming ?? request.id
        request.logger[metadataKey: "request-id"] = .string(id)
        let response = try await next.respond(to: request)
        response.headers.replaceOrAdd(name: "X-Request-Id", value: id)
        response.headers.replaceOrAdd(name: "apim-request-id", value: id)
        return response
    }
}
