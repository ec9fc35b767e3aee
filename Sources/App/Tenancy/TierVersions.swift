import Foundation
import Vapor

/// Custom Vision's published limits at points in its history (`config/tier-versions.json`).
/// An admin applies one to the tier catalogue; every account on those tiers follows at once.
/// A version names the limits it sets; the rest of a tier (and tiers it leaves out) stay as
/// they are.
struct TierVersion: Sendable, Equatable {
    var version: String
    var title: String
    var source: String
    /// Per tier code, the limits this version sets (nil: unlimited).
    var tiers: [String: [Quota: Int?]]
}

struct TierVersions: Sendable {
    var all: [TierVersion]

    func find(_ version: String) -> TierVersion? { all.first { $0.version == version } }

    private struct File: Decodable {
        var version: String, title: String, source: String
        var tiers: [String: [String: Int?]]
    }

    static func load(from path: String) throws -> TierVersions {
        guard let data = FileManager.default.contents(atPath: path) else { return TierVersions(all: []) }
        var out: [TierVersion] = []
        for f in try JSONDecoder().decode([File].self, from: data) {
            var tiers: [String: [Quota: Int?]] = [:]
            for (code, limits) in f.tiers {
                var parsed: [Quota: Int?] = [:]
                for (name, value) in limits {
                    guard let q = Quota(rawValue: name) else {
                        throw ConfigError(message: "tier version \(f.version), tier \(code): unknown limit \(name)")
                    }
                    if let v = value, v < 0 { throw ConfigError(message: "tier version \(f.version), tier \(code): \(name) is negative") }
                    parsed[q] = value
                }
                tiers[code] = parsed
            }
            guard !out.contains(where: { $0.version == f.version }) else { throw ConfigError(message: "tier version \(f.version) is listed twice") }
            out.append(TierVersion(version: f.version, title: f.title, source: f.source, tiers: tiers))
        }
        return TierVersions(all: out)
    }
}

struct TierVersionsKey: StorageKey { typealias Value = TierVersions }

extension Application {
    var tierVersions: TierVersions {
        get { storage[TierVersionsKey.self] ?? TierVersions(all: []) }
        set { storage[TierVersionsKey.self] = newValue }
    }
}
