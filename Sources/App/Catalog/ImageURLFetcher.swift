import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Vapor
import VisionEngine

/// Fetches images for `create_images_from_urls`: the URL policy is checked on the
/// resolved addresses first; redirects are not followed; bodies over 6 MB are cut off.
/// For plain http the connection goes to the checked address itself (Host header kept),
/// so a second DNS answer cannot point it elsewhere.
struct ImageURLFetcher {
    /// The application's client, configured not to follow redirects.
    let http: HTTPClient
    let policy: URLPolicy
    let logger: Logger

    struct Failure: Error { let status: String }

    func fetch(_ raw: String) async -> Result<Data, Failure> {
        let addresses: [[UInt8]]
        switch policy.check(raw) {
        case .failure(let why):
            logger.info("image URL refused", metadata: ["reason": "\(why)"])
            return .failure(Failure(status: "ErrorSource"))
        case .success(let a): addresses = a
        }
        guard let url = URL(string: raw), var components = URLComponents(url: url, resolvingAgainstBaseURL: false),
              let host = components.host else { return .failure(Failure(status: "ErrorSource")) }
        var headers = HTTPHeaders()
        if url.scheme?.lowercased() == "http", let pinned = addresses.first {
            headers.add(name: .host, value: components.port.map { "\(host):\($0)" } ?? host)
            components.host = pinned.count == 4 ? URLPolicy.format(pinned) : "[\(URLPolicy.format(pinned))]"
        }
        guard let target = components.string else { return .failure(Failure(status: "ErrorSource")) }
        do {
            var request = HTTPClientRequest(url: target)
            request.headers = headers
            let response = try await http.execute(request, timeout: .seconds(20))
            guard response.status == .ok else { return .failure(Failure(status: "ErrorSource")) }
            do {
                let body = try await response.body.collect(upTo: ImageDecoder.trainingMaxBytes)
                return .success(Data(buffer: body))
            } catch is NIOTooManyBytesError {
                return .failure(Failure(status: "ErrorImageSize"))
            }
        } catch {
            logger.info("image URL fetch failed", metadata: ["error": "\(error)"])
            return .failure(Failure(status: "ErrorSource"))
        }
    }
}

struct URLPolicyKey: StorageKey { typealias Value = URLPolicy }

extension Application {
    var urlPolicy: URLPolicy {
        get { storage[URLPolicyKey.self] ?? URLPolicy(enabled: true, allowLoopback: false) }
        set { storage[URLPolicyKey.self] = newValue }
    }
}
