import Vapor

/// A partial set of limits from a PUT body. Distinguishes a missing key (leave as is)
/// from `null` (tiers: unlimited; overrides: remove) and from `"unlimited"` (overrides).
struct LimitPatch: Decodable, Sendable {
    enum Value: Equatable, Sendable { case number(Int), null, unlimited }
    var limits: [Quota: Value] = [:]
    var objectDetection: Value?  // .number(0/1)

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        for key in c.allKeys {
            if key.stringValue == objectDetectionFlag {
                if try c.decodeNil(forKey: key) { objectDetection = .null; continue }
                guard let b = try? c.decode(Bool.self, forKey: key) else {
                    throw CVError.badRequest("BadRequest", "objectDetection must be true, false or null.")
                }
                objectDetection = .number(b ? 1 : 0)
                continue
            }
            guard let q = Quota(rawValue: key.stringValue) else {
                throw CVError.badRequest("BadRequest", "Unknown limit '\(key.stringValue.prefix(64))'. Known: \(Quota.allCases.map(\.rawValue).joined(separator: ", ")), objectDetection.")
            }
            if try c.decodeNil(forKey: key) { limits[q] = .null; continue }
            if let s = try? c.decode(String.self, forKey: key), s == "unlimited" { limits[q] = .unlimited; continue }
            guard let n = try? c.decode(Int.self, forKey: key), n >= 0, n <= 1_000_000_000 else {
                throw CVError.badRequest("BadRequest", "'\(q.rawValue)' must be a whole number from 0 to 1000000000, null or \"unlimited\".")
            }
            limits[q] = .number(n)
        }
    }

    init(limits: [Quota: Value], objectDetection: Value?) {
        self.limits = limits; self.objectDetection = objectDetection
    }
}
