import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Vapor

/// Sends a request to the address `URLPolicy` checked, never to a second DNS answer (which
/// could name an internal host). Plain http goes to the address itself with the Host header
/// kept, on the shared pool. https needs the name for SNI and certificate checks, so it runs
/// on a client of its own whose DNS override maps the name to the checked address; the
/// certificate is still verified against the name.
struct PinnedHTTPClient: Sendable {
    let shared: HTTPClient
    /// The shared client's settings (timeouts, redirects, trust roots), copied for https.
    let configuration: HTTPClient.Configuration
    let eventLoopGroup: any EventLoopGroup

    struct BadURL: Error {}

    /// Runs `request` against `address` (or as the URL says when `address` is nil) and hands
    /// the response to `read`, which must consume the body before it returns.
    func execute<T>(_ url: String, headers: HTTPHeaders = [:], pinnedTo address: [UInt8]?, timeout: TimeAmount,
                    _ read: (HTTPClientResponse) async throws -> T) async throws -> T {
        guard let address else {
            var request = HTTPClientRequest(url: url)
            request.headers = headers
            return try await read(shared.execute(request, timeout: timeout))
        }
        guard var components = URLComponents(string: url), let host = components.host, !host.isEmpty else { throw BadURL() }
        let literal = URLPolicy.format(address)
        var request = HTTPClientRequest(url: url)
        request.headers = headers
        if components.scheme?.lowercased() == "http" {
            request.headers.replaceOrAdd(name: .host, value: components.port.map { "\(host):\($0)" } ?? host)
            components.host = address.count == 4 ? literal : "[\(literal)]"
            guard let target = components.string else { throw BadURL() }
            request.url = target
            return try await read(shared.execute(request, timeout: timeout))
        }
        // Keyed by the host as AsyncHTTPClient parses it (Foundation's URL, brackets trimmed),
        // so the override cannot miss and fall back to DNS.
        guard var name = URL(string: url)?.host, !name.isEmpty else { throw BadURL() }
        if name.hasPrefix("[") && name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        var pinned = configuration
        // One request per client: a failed handshake is the answer, not something to retry
        // until the deadline (callers retry on their own terms).
        pinned.connectionPool.retryConnectionEstablishment = false
        pinned.dnsOverride = [name: literal]
        let client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: pinned)
        do {
            let result = try await read(client.execute(request, timeout: timeout))
            try? await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

extension Application {
    /// The application's HTTP client, pinning fetches to checked addresses.
    var pinnedHTTP: PinnedHTTPClient {
        PinnedHTTPClient(shared: http.client.shared, configuration: http.client.configuration, eventLoopGroup: eventLoopGroup)
    }
}
