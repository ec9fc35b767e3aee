import NIOConcurrencyHelpers

/// Images whose cached detection views a running training job still reads: it streams
/// them from disk on every step, so the pruner leaves them alone until the job ends even
/// if the image is deleted meanwhile (the next sweep removes them). Per process, as the
/// jobs and the hourly sweep run in the server process.
final class FeatureLeases: Sendable {
    static let shared = FeatureLeases()
    private let held = NIOLockedValueBox<[String: Int]>([:])

    func hold(_ hashes: [String]) {
        held.withLockedValue { for h in hashes { $0[h, default: 0] += 1 } }
    }

    func release(_ hashes: [String]) {
        held.withLockedValue { m in
            for h in hashes {
                let n = (m[h] ?? 1) - 1
                m[h] = n > 0 ? n : nil
            }
        }
    }

    func isHeld(_ hash: String) -> Bool { held.withLockedValue { $0[hash] != nil } }
}
