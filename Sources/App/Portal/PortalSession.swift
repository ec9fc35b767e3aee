import Fluent
import Vapor

struct PortalUserKey: StorageKey { typealias Value = User }

extension Request {
    /// The signed-in portal user, if any (set by `PortalSession`).
    var portalUser: User? {
        get { storage[PortalUserKey.self] }
        set { storage[PortalUserKey.self] = newValue }
    }

    /// The form token: the signed-in session's, or for visitors (who get no session) the
    /// value of the `sightline-csrf` cookie, sent back by the form (double submit).
    var csrfToken: String {
        if portalUser != nil, hasSession, let t = session.data["csrf"] { return t }
        if let t = storage[VisitorCSRFKey.self] { return t }
        let t = visitorCookieToken ?? AccountKey.generateSecret()
        storage[VisitorCSRFKey.self] = t
        return t
    }

    var visitorCookieToken: String? {
        guard let t = cookies[PortalSession.visitorCookieName(application.settings)]?.string, t.count == 32, t.allSatisfy(\.isHexDigit) else { return nil }
        return t
    }

    /// The client address used for sign-in throttling.
    var clientAddress: String {
        ClientAddress.resolve(peer: remoteAddress?.ipAddress, headers: headers, settings: application.settings)
    }
}

struct VisitorCSRFKey: StorageKey { typealias Value = String }

/// Loads the session's user and enforces the CSRF token on every state-changing form.
struct PortalSession: AsyncMiddleware {
    /// `__Host-` when served over TLS: no sibling subdomain can plant or widen it.
    static func visitorCookieName(_ settings: Settings) -> String {
        settings.isSecure ? "__Host-sightline-csrf" : "sightline-csrf"
    }

    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        // Sessions exist only for signed-in users and end server-side when idle or old.
        if request.hasSession {
            if request.session.data["userID"] != nil, request.session.data[SessionClock.created] == nil {
                // Signed in before sessions carried their times: they start counting now.
                let now = String(Int(Date().timeIntervalSince1970))
                request.session.data[SessionClock.created] = now
                request.session.data[SessionClock.seen] = now
            }
            let data = request.session.data
            if let raw = data["userID"], let id = UUID(uuidString: raw),
               !SessionClock.isExpired(data, settings: request.application.settings) {
                request.portalUser = try await User.find(id, on: request.db)
                let now = Date().timeIntervalSince1970
                if now - (data[SessionClock.seen].flatMap(Double.init) ?? 0) > 60 {
                    request.session.data[SessionClock.seen] = String(Int(now))
                }
            }
            if request.portalUser == nil { request.session.data = SessionData() }
        }
        let response: Response
        do { response = try await respondChecked(request, next) } catch {
            if request.hasSession, request.session.data["userID"] == nil { request.session.destroy() }
            throw error
        }
        if request.hasSession, request.session.data["userID"] == nil { request.session.destroy() }
        // Renewed with every visitor page, so an open form does not go stale a day later.
        if let token = request.storage[VisitorCSRFKey.self] {
            response.cookies[Self.visitorCookieName(request.application.settings)] = HTTPCookies.Value(
                string: token, expires: Date().addingTimeInterval(86_400), maxAge: nil, domain: nil, path: "/",
                isSecure: request.application.settings.isSecure, isHTTPOnly: true, sameSite: .strict)
        }
        return response
    }

    static let visitorBodyLimit = 16 * 1024
    static let userBodyLimit = 8 * 1024 * 1024

    static func tooLarge(_ limit: Int) -> CVError {
        CVError(.payloadTooLarge, "BadRequest", "The form is over the \(limit >= 1024 * 1024 ? "\(limit / 1024 / 1024) MB" : "\(limit / 1024) KB") it may send.",
                headers: ["Connection": "close"])
    }

    private func respondChecked(_ request: Request, _ next: AsyncResponder) async throws -> Response {
        // Signing out when the session has already ended is just a redirect.
        let signingOutAlready = request.portalUser == nil && request.url.path == "/signout"
        if request.method == .POST && !signingOutAlready {
            // Forms send the token as a field; the upload and box-editor scripts as a header.
            var sent = request.headers.first(name: "X-CSRF-Token")
            // Visitors only sign in or up: their forms are small. (A script's request, which
            // sends the token as a header, is read by its route, within the route's limit.)
            let limit = request.portalUser == nil ? Self.visitorBodyLimit : Self.userBodyLimit
            if sent == nil {
                // Route middleware runs before a route collects its body: a form that
                // arrived in several chunks is still streaming here, so collect it first.
                if let n = RequestBodyReader.declaredLength(request), n > limit { throw Self.tooLarge(limit) }
                if request.body.data == nil {
                    do { _ = try await request.body.collect(max: limit).get() } catch let e as AbortError where e.status == .payloadTooLarge {
                        throw Self.tooLarge(limit)
                    }
                }
                if let n = request.body.data?.readableBytes, n > limit { throw Self.tooLarge(limit) }
            }
            if sent == nil, let body = request.body.data {
                sent = try? FormField.value("_csrf", in: body, type: request.headers.contentType)
            }
            let expected = request.portalUser != nil ? request.session.data["csrf"] : request.visitorCookieToken
            guard let expected, let sent, sent == expected else {
                throw CVError(.forbidden, "Forbidden", "The form expired or did not come from this site. Reload the page and try again.")
            }
        }
        return try await next.respond(to: request)
    }
}

/// Sends anonymous visitors to the sign-in page.
struct RequireUser: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        guard request.portalUser != nil else {
            // A page visited while signed out is where sign-in returns to.
            var target = "/signin"
            if request.method == .GET, let path = request.url.string.nilIfEmpty, PortalFlash.isLocalPath(path), path != "/" {
                var allowed = CharacterSet.urlQueryAllowed
                allowed.remove(charactersIn: "&=+?#")
                target += "?next=" + (path.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
            }
            return request.redirect(to: target)
        }
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
