import NIOConcurrencyHelpers

/// Tells this process's idle engine workers that a job was just committed, so they claim
/// it at once instead of at their next poll (other processes still find it by polling).
final class JobWakeup: Sendable {
    static let shared = JobWakeup()
    private let generation = NIOLockedValueBox(0)

    func signal() { generation.withLockedValue { $0 &+= 1 } }

    /// Waits up to `nanoseconds`, returning early once a job is signalled.
    func wait(nanoseconds: UInt64) async {
        let seen = generation.withLockedValue { $0 }
        let step: UInt64 = 10_000_000
        var waited: UInt64 = 0
        while waited < nanoseconds, !Task.isCancelled, generation.withLockedValue({ $0 }) == seen {
            try? await Task.sleep(nanoseconds: step)
            waited += step
        }
    }
}
