import Vapor

/// A portal address that matches no route still gets a page that shows who is signed in:
/// the router's 404 passes no route group, so the session is loaded here before the error
/// page is drawn. API paths keep their JSON errors and their 405 detection untouched.
struct PortalNotFoundPage: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch let error as AbortError where error.status == .notFound && request.route == nil
            && request.method == .GET && !ErrorResponder.isAPI(request.url.path) {
            let session: [Middleware] = [request.application.sessions.middleware, PortalSession()]
            return try await session.makeResponder(chainingTo: Refusal(error: error)).respond(to: request).get()
        }
    }

    /// The responder behind the session middleware: it gives the router's error back.
    struct Refusal: AsyncResponder {
        let error: any Error
        func respond(to request: Request) async throws -> Response { throw error }
    }
}
