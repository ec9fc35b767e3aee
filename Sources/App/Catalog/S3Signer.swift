import Crypto
import Foundation

/// AWS Signature Version 4, as S3 and S3-compatible stores check it: the canonical request
/// (method, path, query, headers, payload hash), the string to sign over the date and
/// credential scope, and the key derived from the secret for that day, region and service.
/// Paths and query values are given decoded; the signer encodes them as the request must
/// carry them (`encode`), so what is signed is what is sent.
struct S3Signer: Sendable {
    struct Credentials: Sendable, Equatable {
        var accessKeyID: String
        var secretAccessKey: String
        var sessionToken: String?
    }

    let credentials: Credentials
    let region: String
    /// "s3" for object stores; the generic signing test suite uses "service".
    var service = "s3"

    static let algorithm = "AWS4-HMAC-SHA256"
    static let unsignedPayload = "UNSIGNED-PAYLOAD"
    static let emptyPayloadHash = sha256Hex(Data())

    /// The headers to send: the request's own, `x-amz-date`, `x-amz-content-sha256` (for
    /// S3), the session token when there is one, and `Authorization` over all of them. The
    /// request's headers must include `host` as it will be sent (with a non-default port).
    func sign(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
              payloadHash: String, date: Date) -> [(String, String)] {
        let stamp = Self.timestamp(date)
        var all = headers
        all.append(("x-amz-date", stamp))
        if service == "s3" { all.append(("x-amz-content-sha256", payloadHash)) }
        if let token = credentials.sessionToken { all.append(("x-amz-security-token", token)) }
        let (canonicalHeaders, signedHeaders) = Self.canonical(headers: all)
        let request = [method, Self.encode(path, keepSlash: true), Self.canonical(query: query),
                       canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let scope = self.scope(stamp)
        let signature = self.signature(request: request, stamp: stamp, scope: scope)
        all.append(("Authorization", "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(scope), "
                    + "SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return all
    }

    /// The query string of a presigned URL (everything after `?`): the request's own query,
    /// the signing parameters and `X-Amz-Signature`. Only `host` is signed, and the payload
    /// is not, so anyone holding the URL may make that one request until it expires.
    func presignedQuery(method: String, host: String, path: String, query: [(String, String)] = [],
                        expires: Int, date: Date) -> String {
        let stamp = Self.timestamp(date)
        let scope = self.scope(stamp)
        var parameters = query + [("X-Amz-Algorithm", Self.algorithm),
                                  ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"),
                                  ("X-Amz-Date", stamp),
                                  ("X-Amz-Expires", String(max(1, min(expires, 604_800)))),
                                  ("X-Amz-SignedHeaders", "host")]
        if let token = credentials.sessionToken { parameters.append(("X-Amz-Security-Token", token)) }
        let canonicalQuery = Self.canonical(query: parameters)
        let request = [method, Self.encode(path, keepSlash: true), canonicalQuery,
                       "host:\(host)\n", "host", Self.unsignedPayload].joined(separator: "\n")
        return canonicalQuery + "&X-Amz-Signature=" + signature(request: request, stamp: stamp, scope: scope)
    }

    private func scope(_ stamp: String) -> String {
        "\(stamp.prefix(8))/\(region)/\(service)/aws4_request"
    }

    private func signature(request: String, stamp: String, scope: String) -> String {
        let toSign = [Self.algorithm, stamp, scope, Self.sha256Hex(Data(request.utf8))].joined(separator: "\n")
        var key = SymmetricKey(data: Data(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [String(stamp.prefix(8)), region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data(toSign.utf8), using: key))
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters (and `/` in a path).
    static func encode(_ s: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in s.utf8 {
            if isUnreserved(byte) || (keepSlash && byte == UInt8(ascii: "/")) {
                out.append(Character(UnicodeScalar(byte)))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        let letter = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
        let digit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        return letter || digit || "-_.~".utf8.contains(byte)
    }

    /// `name=value` pairs, each encoded, sorted by name then value, joined by `&`.
    static func canonical(query: [(String, String)]) -> String {
        let pairs: [(name: String, value: String)] = query.map { (encode($0.0), encode($0.1)) }
        let sorted = pairs.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    /// Lower-cased names in order, each with its values trimmed, inner runs of spaces made
    /// one, repeated names joined by commas; and the names joined by `;`.
    static func canonical(headers: [(String, String)]) -> (String, String) {
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            let tidy = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                .trimmingCharacters(in: .whitespaces)
            values[name.lowercased(), default: []].append(tidy)
        }
        let names = values.keys.sorted()
        let lines = names.map { "\($0):\(values[$0]!.joined(separator: ","))\n" }.joined()
        return (lines, names.joined(separator: ";"))
    }

    static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    static func sha256Hex(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    private static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.hex
    }
}
