import Fluent
import NIOConcurrencyHelpers
import Vapor

/// What every API call asks before it does anything: which account a key belongs to,
/// that account's TPS limit, and (for predictions) its monthly prediction limit. Kept in memory for a couple of seconds so that calls refused
/// for their rate cost no database round trip. Unknown keys are not remembered (a key made
/// by another process works at once); each costs one lookup. Changes made in this process (admin edits,
/// tier changes, key regeneration, account deletion) clear it at once; another process
/// sharing the database sees them within `lifetime`.
final class AccessCache: @unchecked Sendable {
    static let shared = AccessCache()
    static let lifetime: TimeInterval = 2
    /// Bounds memory under a flood of distinct keys.
    static let maxEntries = 10_000

    private struct Entry<T> { var value: T; var expires: Date }
    private let lock = NIOLock()
    private var accounts: [String: Entry<Account>] = [:]
    private var quotaLimits: [String: Entry<Int?>] = [:]
    private var generation = 0

    func account(keyHash: String, kind: KeyKind, load: () async throws -> Account?) async throws -> Account? {
        let slot = kind.rawValue + ":" + keyHash, now = Date()
        let (hit, gen) = lock.withLock { (accounts[slot].flatMap { $0.expires > now ? $0.value : nil }, generation) }
        if let hit { return hit }
        guard let fresh = try await load() else { return nil }
        store(ifStill: gen) {
            if $0.accounts.count >= Self.maxEntries { $0.accounts.removeAll() }
            $0.accounts[slot] = Entry(value: fresh, expires: now.addingTimeInterval(Self.lifetime))
        }
        return fresh
    }

    /// An account's effective limit for a quota (see `LimitResolver`): its TPS limit on
    /// every call, its monthly predictions on predictions.
    func quotaLimit(account: UUID, quota: String, load: () async throws -> Int?) async throws -> Int? {
        let slot = account.uuidString + ":" + quota, now = Date()
        let (hit, gen) = lock.withLock { (quotaLimits[slot].flatMap { $0.expires > now ? $0 : nil }, generation) }
        if let hit { return hit.value }
        let fresh = try await load()
        store(ifStill: gen) {
            if $0.quotaLimits.count >= Self.maxEntries { $0.quotaLimits.removeAll() }
            $0.quotaLimits[slot] = Entry(value: fresh, expires: now.addingTimeInterval(Self.lifetime))
        }
        return fresh
    }

    /// After any change to keys, accounts, tiers or overrides.
    func invalidateAll() {
        lock.withLock { accounts.removeAll(); quotaLimits.removeAll(); generation += 1 }
        PublishedModels.shared.invalidateAll()   // a published model's account may have changed
    }

    /// Stores a loaded value unless an invalidation happened while it was being loaded.
    private func store(ifStill gen: Int, _ change: (AccessCache) -> Void) {
        lock.withLock { if generation == gen { change(self) } }
    }
}
