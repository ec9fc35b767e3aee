import Foundation
import NIOConcurrencyHelpers

/// This process's share of the TPS count: calls past an account's limit within the current
/// second are held back here (paced into the next second, or refused past twice the limit)
/// before the database is touched, so a flood costs the other tenants nothing. Calls within it still go to the database count, which
/// stays the truth across processes.
final class LocalRateWindow: @unchecked Sendable {
    static let shared = LocalRateWindow()
    private struct Slot: Hashable { var account: UUID; var kind: String }
    private let lock = NIOLock()
    private var counts: [Slot: (window: Int64, count: Int)] = [:]

    /// Counts one call; returns this process's count for the account this second.
    func count(account: UUID, kind: String, now: Date = Date()) -> Int {
        let window = Int64(now.timeIntervalSince1970.rounded(.down))
        let slot = Slot(account: account, kind: kind)
        return lock.withLock {
            if counts.count > 10_000 { counts = counts.filter { $0.value.window == window } }
            var entry: (window: Int64, count: Int) = counts[slot].flatMap { $0.window == window ? $0 : nil } ?? (window, 0)
            entry.count += 1
            counts[slot] = entry
            return entry.count
        }
    }
}
