import Foundation

/// Where an S3 bucket is and how its objects are addressed, from `BLOB_STORE_URL=s3://BUCKET[/PREFIX]`
/// and the AWS SDKs' standard variables: `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`) for
/// any S3-compatible store, addressed by path (`endpoint/bucket/key`); without one, AWS
/// itself in `AWS_REGION`, addressed by virtual host (`bucket.s3.region.amazonaws.com/key`).
struct S3Location: Sendable, Equatable {
    var scheme: String
    var host: String
    var port: Int?
    var bucket: String
    /// Empty, or ends with "/".
    var prefix: String
    var pathStyle: Bool

    struct Invalid: Error, CustomStringConvertible { let description: String }

    static func parse(url raw: String, environment env: [String: String]) throws -> (S3Location, S3Signer) {
        guard let url = URLComponents(string: raw), url.scheme?.lowercased() == "s3",
              let bucket = url.host, !bucket.isEmpty else {
            throw Invalid(description: "BLOB_STORE_URL must look like s3://BUCKET[/PREFIX], not \(raw)")
        }
        let trimmed = url.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        func nonEmpty(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        let region = nonEmpty("AWS_REGION") ?? nonEmpty("AWS_DEFAULT_REGION") ?? "us-east-1"
        guard let id = nonEmpty("AWS_ACCESS_KEY_ID"), let secret = nonEmpty("AWS_SECRET_ACCESS_KEY") else {
            throw Invalid(description: "BLOB_STORE_URL needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        let token = nonEmpty("AWS_SESSION_TOKEN")
        var location: S3Location
        if let endpoint = nonEmpty("AWS_ENDPOINT_URL_S3") ?? nonEmpty("AWS_ENDPOINT_URL") {
            guard let e = URLComponents(string: endpoint), let scheme = e.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  let host = e.host, !host.isEmpty else {
                throw Invalid(description: "AWS_ENDPOINT_URL_S3 must be an http(s) URL, not \(endpoint)")
            }
            location = S3Location(scheme: scheme, host: host, port: e.port, bucket: bucket, prefix: "", pathStyle: true)
        } else {
            location = S3Location(scheme: "https", host: "\(bucket).s3.\(region).amazonaws.com", port: nil, bucket: bucket,
                                  prefix: "", pathStyle: false)
        }
        location.prefix = trimmed.isEmpty ? "" : trimmed + "/"
        let signer = S3Signer(credentials: .init(accessKeyID: id, secretAccessKey: secret, sessionToken: token), region: region)
        return (location, signer)
    }

    /// The `host` header as sent: with the port unless it is the scheme's default.
    var hostHeader: String {
        guard let port, port != (scheme == "https" ? 443 : 80) else { return host }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The request path, decoded (the signer encodes it): the bucket's root without a key.
    func path(key: String?) -> String {
        let base = pathStyle ? "/\(bucket)" : ""
        guard let key else { return base.isEmpty ? "/" : base }
        return "\(base)/\(key)"
    }

    func url(path: String, query: [(String, String)]) -> String {
        let q = query.isEmpty ? "" : "?" + S3Signer.canonical(query: query)
        return "\(scheme)://\(hostHeader)\(S3Signer.encode(path, keepSlash: true))\(q)"
    }

    var endpointDescription: String { "\(scheme)://\(hostHeader)/\(bucket)" }
}

/// One page of ListObjectsV2's XML: each object's key and last modification, and the token
/// for the next page. The keys this store writes are plain hex paths, so a scan of the
/// elements is enough; keys with escaped characters are not its and are skipped.
struct S3ListPage {
    var objects: [(key: String, modified: Date)] = []
    var nextToken: String?

    init(xml: String) {
        for part in xml.components(separatedBy: "<Contents>").dropFirst() {
            guard let key = Self.element("Key", in: part), !key.contains("&"),
                  let when = Self.element("LastModified", in: part), let date = Self.date(when) else { continue }
            objects.append((key, date))
        }
        if Self.element("IsTruncated", in: xml) == "true" {
            nextToken = Self.element("NextContinuationToken", in: xml).map(Self.unescape)
        }
    }

    static func element(_ name: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(name)>"),
              let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex) else { return nil }
        return String(xml[open.upperBound..<close.lowerBound])
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    static func date(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}
