import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Vapor
import VisionEngine

/// Fetches images for `create_images_from_urls`: the URL policy is checked on the
/// resolved addresses first; redirects are not followed; bodies over 6 MB are cut off.
/// The connection goes to the checked address itself (`PinnedHTTPClient`), so a second
/// DNS answer cannot point it elsewhere.
struct ImageURLFetcher {
    /// The application's client, configured not to follow redirects.
    let http: PinnedHTTPClient
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
        do {
            return try await http.execute(raw, pinnedTo: addresses.first, timeout: .seconds(20)) { response in
                guard response.status == .ok else { return .failure(Failure(status: "ErrorSource")) }
                do {
                    let body = try await response.body.collect(upTo: ImageDecoder.trainingMaxBytes)
                    return .success(Data(buffer: body))
                } catch is NIOTooManyBytesError {
                    return .failure(Failure(status: "ErrorImageSize"))
                }
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
