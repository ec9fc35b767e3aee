@testable import App
import Foundation
import VisionEngine
import XCTest

/// The hand-written wire date matches Foundation's ISO 8601 formatter (the reference) to
/// the character, rounding of milliseconds included.
final class WireDateTests: XCTestCase {
    func testMatchesISO8601FormatterWithFractionalSeconds() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var rng = SplitMix64(seed: 3)
        let edges: [Double] = [0, 0.9996, 1796667600.8736, 1796667600.9999, 1796667600.0005, 951782400.5, 253402300799.999, 1e9]
        let random = (0..<20_000).map { _ in Double(rng.next() % 4_102_444_800_000) / 1000 + Double(rng.next() % 1000) / 1_000_000 }
        for t in edges + random {
            let date = Date(timeIntervalSince1970: t)
            XCTAssertEqual(wireDate(date), reference.string(from: date), "\(t)")
        }
    }
}
