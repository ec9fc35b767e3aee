import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Vapor
import VisionEngine

/// A Custom Vision Training API (Azure's, or any Sightline's) read through its public REST
/// operations only, as `import-customvision` needs it: projects, tags, images page by page,
/// image bytes, iterations and their performance. A `429` is waited out for as long as its
/// `Retry-After` says (at most a minute at a time); a 5xx or a dropped connection is tried
/// again a few times.
struct CustomVisionSource: Sendable {
    let endpoint: String
    let trainingKey: String
    let http: PinnedHTTPClient
    /// Checked on the endpoint and on every image URI (but those of `trustedOrigin`).
    let policy: URLPolicy
    /// `scheme://host:port` the operator named on the command line: fetched without the
    /// policy. Image URIs the source names elsewhere are still checked.
    var trustedOrigin: String? = nil
    /// Told each time the source answers 429 (the importer counts them).
    var onThrottle: @Sendable (Int) -> Void = { _ in }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    struct Project: Decodable, Sendable {
        struct Settings: Decodable, Sendable {
            var domainId: String?
            var classificationType: String?
            var targetExportPlatforms: [String]?
        }
        var id: String
        var name: String
        var description: String?
        var settings: Settings?
    }

    struct Tag: Decodable, Sendable {
        var id: String
        var name: String
        var description: String?
        var type: String?
        var imageCount: Int?
    }

    struct Image: Decodable, Sendable {
        struct TagRef: Decodable, Sendable { var tagId: String }
        struct Region: Decodable, Sendable { var tagId: String; var left, top, width, height: Double }
        var id: String
        var originalImageUri: String?
        var tags: [TagRef]?
        var regions: [Region]?
        var metadata: [String: String]?
    }

    struct Iteration: Decodable, Sendable {
        var id: String
        var name: String
        var status: String
    }

    struct Performance: Decodable, Sendable {
        var precision: Double?
        var recall: Double?
        var averagePrecision: Double?
    }

    /// 429s waited out for one request, each at most a minute.
    static let maxThrottles = 30
    /// A listing's JSON: a page of 256 images with their tags, regions and metadata fits many times over.
    static let listingLimit = 16 * 1024 * 1024
    /// Images per page: the API's largest `take`.
    static let pageSize = 256
    static let apiVersion = "v3.3"

    private var base: String {
        (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/customvision/\(Self.apiVersion)/training"
    }

    func projects() async throws -> [Project] { try await get("/projects") }
    func project(_ id: String) async throws -> Project { try await get("/projects/\(Self.escape(id))") }
    func tags(_ project: String) async throws -> [Tag] { try await get("/projects/\(Self.escape(project))/tags") }
    func imageCount(_ project: String) async throws -> Int { try await get("/projects/\(Self.escape(project))/images/count") }
    func images(_ project: String, skip: Int) async throws -> [Image] {
        try await get("/projects/\(Self.escape(project))/images?take=\(Self.pageSize)&skip=\(skip)&orderBy=Oldest")
    }
    func iterations(_ project: String) async throws -> [Iteration] { try await get("/projects/\(Self.escape(project))/iterations") }
    func performance(_ project: String, iteration: String) async throws -> Performance {
        try await get("/projects/\(Self.escape(project))/iterations/\(Self.escape(iteration))/performance?threshold=0.5")
    }

    static func escape(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(["-"])) ?? s }

    private func get<T: Decodable>(_ path: String) async throws -> T {
        let body = try await fetch(base + path, headers: ["Training-Key": trainingKey], limit: Self.listingLimit)
        do { return try JSONDecoder().decode(T.self, from: body) } catch {
            throw Failure(description: "The source answered \(path.split(separator: "?")[0]) with JSON this importer cannot read: \(error)")
        }
    }

    /// An image's original bytes (at most the training limit).
    func download(_ uri: String) async throws -> Data {
        try await fetch(uri, headers: [:], limit: ImageDecoder.trainingMaxBytes)
    }

    private func fetch(_ url: String, headers: HTTPHeaders, limit: Int) async throws -> Data {
        var pinned: [UInt8]? = nil
        if Self.origin(url) == nil || Self.origin(url) != trustedOrigin {
            switch policy.check(url) {
            case .failure(let why):
                // Which address a name resolved to stays on the server: it may be an internal one.
                let reason: String
                switch why {
                case .disabled: reason = "fetching is turned off"
                case .badURL: reason = "not an http or https address"
                case .forbiddenAddress: reason = "not a public address"
                case .unresolvable: reason = "the name does not resolve"
                }
                throw Failure(description: "\(URL(string: url)?.host ?? "the address") may not be fetched from this server (\(reason)).")
            case .success(let addresses):
                // The connection goes to the address just checked, so a second DNS answer
                // cannot point it elsewhere.
                pinned = addresses.first
            }
        }
        enum Outcome { case body(Data), retry(seconds: Int) }
        var failures = 0, throttles = 0
        while true {
            let outcome: Outcome
            do {
                outcome = try await http.execute(url, headers: headers, pinnedTo: pinned, timeout: .seconds(60)) { response in
                    switch response.status.code {
                    case 200:
                        return .body(Data(buffer: try await response.body.collect(upTo: limit)))
                    case 429:
                        _ = try? await response.body.collect(upTo: 64 * 1024)
                        throttles += 1
                        guard throttles <= Self.maxThrottles else {
                            throw Failure(description: "\(Self.safe(url)) kept answering 429 (\(Self.maxThrottles) times in a row); the import stopped.")
                        }
                        let wait = min(60, max(1, Int(response.headers.first(name: "Retry-After") ?? "") ?? 1))
                        onThrottle(wait)
                        return .retry(seconds: wait)
                    case 500...599 where failures < 3:
                        _ = try? await response.body.collect(upTo: 64 * 1024)
                        failures += 1
                        return .retry(seconds: failures)
                    default:
                        let body = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
                        let code = (try? JSONDecoder().decode([String: String].self, from: Data(body.utf8)))?["code"]
                        throw Failure(description: "\(Self.safe(url)) answered \(response.status.code)\(code.map { " \($0)" } ?? "")\(response.status.code == 401 ? ": check the endpoint and training key" : "").")
                    }
                }
            } catch let failure as Failure {
                throw failure
            } catch is PinnedHTTPClient.BadURL {
                throw Failure(description: "\(Self.safe(url)) is not an address this importer can fetch.")
            } catch is NIOTooManyBytesError {
                throw Failure(description: "\(Self.safe(url)) sent more than \(limit / (1024 * 1024)) MB.")
            } catch {
                failures += 1
                guard failures < 4 else { throw Failure(description: "\(Self.safe(url)) could not be reached: \(Self.unreachable(error))") }
                try await Task.sleep(nanoseconds: UInt64(failures) * 1_000_000_000)
                continue
            }
            switch outcome {
            case .body(let data): return data
            case .retry(let seconds): try await Task.sleep(nanoseconds: UInt64(seconds) * 1_000_000_000)
            }
        }
    }

    /// Why a connection failed, without the addresses a connection error lists (internal
    /// DNS answers among them).
    static func unreachable(_ error: Error) -> String {
        if let e = error as? HTTPClientError { return "\(e)" }
        return "the connection failed"
    }

    /// `scheme://host:port`, the port made explicit.
    static func origin(_ url: String) -> String? {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), let host = c.host?.lowercased() else { return nil }
        return "\(scheme)://\(host):\(c.port ?? (scheme == "https" ? 443 : 80))"
    }

    /// A URL without its query (signed image URIs carry their signature there).
    static func safe(_ url: String) -> String { String(url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "") }
}
