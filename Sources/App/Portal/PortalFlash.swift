import Vapor

/// Post/redirect/get: a form handler leaves its outcome in the session and redirects;
/// the next page shows it once. Visitors have no session, so their forms answer in place.
enum PortalFlash {
    static let flashKey = "flash", errorKey = "flash-error"

    /// A path on this site, never `//host` or `/\host`, which browsers read as another origin.
    /// Browsers drop tabs and newlines while parsing a URL, so `/\t/host` would become
    /// `//host`: every control character, space and backslash is refused.
    static func isLocalPath(_ s: String) -> Bool {
        guard s.hasPrefix("/"), s.count <= 2_000, s.dropFirst().first != "/" else { return false }
        return !s.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7f || $0 == "\\" || (0x80...0x9f).contains($0.value) }
    }
}

extension Request {
    func setFlash(_ message: String) {
        guard portalUser != nil else { return }
        session.data[PortalFlash.flashKey] = message
    }

    func setFlashError(_ message: String) {
        guard portalUser != nil else { return }
        session.data[PortalFlash.errorKey] = message
    }

    /// The message a redirect left, removed as it is read.
    func takeFlash() -> (flash: String?, error: String?) {
        guard portalUser != nil, hasSession else { return (nil, nil) }
        let f = session.data[PortalFlash.flashKey], e = session.data[PortalFlash.errorKey]
        if f != nil { session.data[PortalFlash.flashKey] = nil }
        if e != nil { session.data[PortalFlash.errorKey] = nil }
        return (f, e)
    }

    /// Redirect after a form, leaving a message for the next page.
    func redirect(to path: String, flash: String?, error: String? = nil) -> Response {
        if let flash { setFlash(flash) }
        if let error { setFlashError(error) }
        return redirect(to: path, redirectType: .normal)
    }

    /// Where sign-in should return to: the `next` the sign-in page was given, if local.
    var returnPath: String? {
        let next = (try? content.get(String.self, at: "next")) ?? query[String.self, at: "next"]
        guard let next, PortalFlash.isLocalPath(next), !next.hasPrefix("/signin"), !next.hasPrefix("/signup") else { return nil }
        return next
    }
}
