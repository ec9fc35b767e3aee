import Crypto
import Foundation

/// The token `export_project` hands out and `import_project` takes: which project, when it
/// was issued, until when, signed with the server's key. It names one project and grants
/// nothing but a copy of it as it was when issued (the tags and images that existed then);
/// holding it is the permission, as with Azure's tokens.
struct ProjectExportToken: Equatable {
    var projectID: UUID
    var expires: Date
    /// Nil in tokens issued before tokens carried it: those copy the project as it is.
    var issued: Date? = nil

    /// How long a token can be imported after it was made.
    static let lifetime: TimeInterval = 24 * 3600
    static let maxLength = 512

    enum Invalid: Error { case malformed, badSignature, expired }

    /// `i`: the issue time in milliseconds, rounded up (nothing made after it is copied).
    private struct Payload: Codable { var p: UUID; var e: Int; var i: Int? }

    /// `v1.<payload, base64url>.<HMAC-SHA256, base64url>`; the MAC covers the version and payload.
    func encoded(key: SymmetricKey) -> String {
        let payload = try! JSONEncoder().encode(Payload(p: projectID, e: Int(expires.timeIntervalSince1970),
                                                     i: issued.map { Int(($0.timeIntervalSince1970 * 1000).rounded(.up)) }))
        let body = "v1." + Self.base64url(payload)
        return body + "." + Self.base64url(Data(HMAC<SHA256>.authenticationCode(for: Data(Self.purpose(body).utf8), using: key)))
    }

    static func decode(_ token: String, key: SymmetricKey, now: Date = Date()) throws -> ProjectExportToken {
        guard token.utf8.count <= maxLength else { throw Invalid.malformed }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "v1", let payload = data(base64url: parts[1]), let mac = data(base64url: parts[2]) else {
            throw Invalid.malformed
        }
        let body = parts[0] + "." + parts[1]
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(purpose(body).utf8), using: key) else {
            throw Invalid.badSignature
        }
        guard let p = try? JSONDecoder().decode(Payload.self, from: payload) else { throw Invalid.malformed }
        let expires = Date(timeIntervalSince1970: TimeInterval(p.e))
        guard expires > now else { throw Invalid.expired }
        return ProjectExportToken(projectID: p.p, expires: expires, issued: p.i.map { Date(timeIntervalSince1970: TimeInterval($0) / 1000) })
    }

    /// Keeps these MACs apart from the blob URLs', which use the same key.
    private static func purpose(_ body: String) -> String { "sightline project export\n" + body }

    static func base64url(_ d: Data) -> String {
        d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func data(base64url s: String) -> Data? {
        guard s.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), s.allSatisfy(\.isASCII) else { return nil }
        var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b.count % 4 != 0 { b += "=" }
        return Data(base64Encoded: b)
    }
}
