import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which addresses the server may fetch images from: public unicast only. Loopback,
/// private, link-local (cloud metadata at 169.254.169.254 included), CGNAT, multicast
/// and reserved ranges are refused, for every address a name resolves to.
struct URLPolicy: Sendable {
    var enabled: Bool
    /// Only tests turn this on, to fetch from a server of their own on 127.0.0.1.
    var allowLoopback: Bool
    /// How names are resolved: the system's resolver, or a test's own.
    var resolver: @Sendable (String) -> [[UInt8]] = URLPolicy.resolve

    enum Refusal: Error, Equatable {
        case disabled, badURL, forbiddenAddress(String), unresolvable
    }

    static let blockedNames: Set<String> = ["localhost", "metadata", "metadata.google.internal", "instance-data"]

    /// Checks the URL and resolves its host; returns the addresses it may connect to.
    func check(_ raw: String, resolve: ((String) -> [[UInt8]])? = nil) -> Result<[[UInt8]], Refusal> {
        guard enabled else { return .failure(.disabled) }
        guard let url = URL(string: raw), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              var host = url.host?.lowercased(), !host.isEmpty, url.user == nil else { return .failure(.badURL) }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasSuffix(".") { host.removeLast() }
        if !allowLoopback && (Self.blockedNames.contains(host) || host.hasSuffix(".localhost") || host.hasSuffix(".internal")) {
            return .failure(.forbiddenAddress(host))
        }
        let addresses = (resolve ?? resolver)(host)
        guard !addresses.isEmpty else { return .failure(.unresolvable) }
        for a in addresses where !permitted(a) { return .failure(.forbiddenAddress(Self.format(a))) }
        return .success(addresses)
    }

    func permitted(_ a: [UInt8]) -> Bool {
        if allowLoopback && Self.isLoopback(a) { return true }
        return Self.isPublic(a)
    }

    static func isLoopback(_ a: [UInt8]) -> Bool {
        if a.count == 4 { return a[0] == 127 }
        if a.count == 16 {
            if let v4 = mappedIPv4(a) { return v4[0] == 127 }
            return a == [UInt8](repeating: 0, count: 15) + [1]
        }
        return false
    }

    static func mappedIPv4(_ a: [UInt8]) -> [UInt8]? {
        // ::ffff:a.b.c.d (mapped), the deprecated ::a.b.c.d (compatible),
        // ::ffff:0:a.b.c.d (translated), and 6to4's 2002:aabb:ccdd::/48.
        if a.prefix(10).allSatisfy({ $0 == 0 }) && (a[10] == 0xff && a[11] == 0xff || a[10] == 0 && a[11] == 0 && a[12...].contains { $0 != 0 }) {
            return Array(a[12...])
        }
        if a.prefix(8).allSatisfy({ $0 == 0 }) && a[8] == 0xff && a[9] == 0xff && a[10] == 0 && a[11] == 0 { return Array(a[12...]) }
        if a[0] == 0x20 && a[1] == 0x02 { return Array(a[2..<6]) }
        return nil
    }

    static func isPublic(_ a: [UInt8]) -> Bool {
        if a.count == 4 {
            let (x, y) = (a[0], a[1])
            switch x {
            case 0, 10, 127: return false                        // this network, private, loopback
            case 100 where (64...127).contains(y): return false  // carrier-grade NAT (also Alibaba's metadata)
            case 169 where y == 254: return false                // link-local, cloud metadata
            case 172 where (16...31).contains(y): return false   // private
            case 192 where y == 168: return false                // private
            case 192 where y == 0 && (a[2] == 0 || a[2] == 2): return false  // IETF assignments, documentation
            case 192 where y == 88 && a[2] == 99: return false   // 6to4 relay anycast
            case 198 where y == 51 && a[2] == 100: return false  // documentation
            case 203 where y == 0 && a[2] == 113: return false   // documentation
            case 198 where y == 18 || y == 19: return false      // benchmarking
            case 224...255: return false                         // multicast, reserved, broadcast
            default: return true
            }
        }
        guard a.count == 16 else { return false }
        if let v4 = mappedIPv4(a) { return isPublic(v4) }
        if a.allSatisfy({ $0 == 0 }) || isLoopback(a) { return false }  // :: and ::1
        if a[0] & 0xfe == 0xfc { return false }                          // fc00::/7 unique local
        if a[0] == 0xfe && a[1] & 0xc0 == 0x80 { return false }          // fe80::/10 link-local
        if a[0] == 0xff { return false }                                 // multicast
        if a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8 { return false }  // documentation
        if a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b { return false }  // NAT64 maps IPv4 inside
        if a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x00 && a[3] == 0x00 { return false }  // Teredo tunnels to IPv4
        if a[0] == 0x01 && a[1] == 0x00 && a[2...7].allSatisfy({ $0 == 0 }) { return false }  // 100::/64 discard
        return true
    }

    static func format(_ a: [UInt8]) -> String {
        a.count == 4 ? a.map(String.init).joined(separator: ".")
            : stride(from: 0, to: 16, by: 2).map { String(format: "%x", Int(a[$0]) << 8 | Int(a[$0 + 1])) }.joined(separator: ":")
    }

    /// Every address `host` resolves to (or the literal address itself).
    static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &res) == 0, let first = res else { return [] }
        defer { freeaddrinfo(first) }
        var out: [[UInt8]] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            if ai.pointee.ai_family == AF_INET, let sa = ai.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    out.append(withUnsafeBytes(of: &addr) { Array($0) })
                }
            } else if ai.pointee.ai_family == AF_INET6, let sa = ai.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    out.append(withUnsafeBytes(of: &addr) { Array($0) })
                }
            }
            p = ai.pointee.ai_next
        }
        return out
    }
}
