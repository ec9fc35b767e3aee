import Vapor

/// Headers that keep a stored string from becoming script, and the portal out of frames:
/// scripts only from this origin's `/js` files (no inline script or handlers), no plugins,
/// no framing, no sniffing a blob into HTML, no full URLs (with signatures) in Referer.
struct SecurityHeadersMiddleware: AsyncMiddleware {
    /// Signed blob URLs are absolute on PUBLIC_URL, which may be another origin than the
    /// one the portal is browsed on.
    static func contentSecurityPolicy(publicURL: String) -> String {
        var origin = ""
        if let u = URL(string: publicURL), let scheme = u.scheme, let host = u.host {
            origin = " \(scheme)://\(host)" + (u.port.map { ":\($0)" } ?? "")
        }
        return basePolicy.replacingOccurrences(of: "img-src 'self'", with: "img-src 'self'\(origin)")
    }

    static let basePolicy = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        // The usage and probability bars set a width in a style attribute; no style element runs.
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ].joined(separator: "; ")

    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        let response = try await next.respond(to: request)
        let h = response.headers
        if !h.contains(name: "Content-Security-Policy") {
            response.headers.replaceOrAdd(name: "Content-Security-Policy",
                                          value: Self.contentSecurityPolicy(publicURL: request.application.settings.publicURL))
        }
        response.headers.replaceOrAdd(name: "X-Content-Type-Options", value: "nosniff")
        response.headers.replaceOrAdd(name: "X-Frame-Options", value: "DENY")
        response.headers.replaceOrAdd(name: "Referrer-Policy", value: "same-origin")
        return response
    }
}
