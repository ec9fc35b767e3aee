import Fluent
import Vapor

struct PortalUserKey: StorageKey { typealias Value = User }

extension Request {
    /// The signed-in portal user, if any (set by `PortalSession`).
    var portalUser: User? {
        get { storage[PortalUserKey.self] }
        set { storage[PortalUserKey.self] = newValue }
    }

    /// The session's CSRF token, created on first use.
    var csrfToken: String {
        if let t = session.data["csrf"] { return t }
        let t = AccountKey.generateSecret()
        session.data["csrf"] = t
        return t
    }

    /// The client address used for sign-in throttling.
    var clientAddress: String {
        remoteAddress?.ipAddress ?? "unknown"
    }
}

/// Loads the session's user and enforces the CSRF token on every state-changing form.
struct PortalSession: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        if let raw = request.session.data["userID"], let id = UUID(uuidString: raw) {
            request.portalUser = try await User.find(id, on: request.db)
        }
        if request.method == .POST {
            // Forms send the token as a field; the upload and box-editor scripts as a header.
            var sent = request.headers.first(name: "X-CSRF-Token")
            if sent == nil {
                // Route middleware runs before a route collects its body: a form that
                // arrived in several chunks is still streaming here, so collect it first.
                if request.body.data == nil { _ = try await request.body.collect(max: 8 * 1024 * 1024).get() }
                sent = try? request.content.get(String.self, at: "_csrf")
            }
            guard let expected = request.session.data["csrf"], let sent, sent == expected else {
                throw CVError(.forbidden, "Forbidden", "The form expired or did not come from this site. Reload the page and try again.")
            }
        }
        return try await next.respond(to: request)
    }
}

/// Sends anonymous visitors to the sign-in page.
struct RequireUser: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        guard request.portalUser != nil else { return request.redirect(to: "/signin") }
        return try await next.respond(to: request)
    }
}

/// Admin pages look missing to everyone else.
struct RequireAdmin: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        guard request.portalUser?.isAdmin == true else { throw Abort(.notFound) }
        return try await next.respond(to: request)
    }
}
