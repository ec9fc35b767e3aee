import Vapor

/// The address sign-in and sign-up throttling is keyed by: the peer's, or, when the peer
/// is a configured trusted proxy, the last address that proxy wrote into its header (the
/// entries before it are the client's own claims and are ignored).
enum ClientAddress {
    static func resolve(peer: String?, headers: HTTPHeaders, settings: Settings) -> String {
        let peer = peer ?? "unknown"
        guard let header = settings.trustedProxyHeader, settings.trustedProxies.contains(peer),
              let value = headers[header].last,
              let last = value.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty,
              last.count <= 64, last.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) else { return peer }
        return last
    }
}
