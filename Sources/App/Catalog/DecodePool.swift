import NIOConcurrencyHelpers
import NIOPosix
import Vapor
import VisionEngine

/// Image decoding and resizing run here, on threads of their own, never on the pool that
/// serves database access, password hashing and blob reads. Each account may run
/// `perAccount` decodes at once; beyond that it may borrow threads that are idle while no
/// other account waits, so a lone tenant uses the whole pool but one tenant's large images
/// never queue in front of everybody else's for more than the decodes already running.
final class DecodePool: @unchecked Sendable {
    let threads: NIOThreadPool
    let threadCount: Int
    let perAccount: Int
    /// The nice value of the pool's threads.
    let nice: Int
    private let lock = NIOLock()
    private var running: [UUID: Int] = [:]
    private var total = 0
    /// Accounts over their share, oldest first.
    private var waiting: [(account: UUID, continuation: CheckedContinuation<Void, Never>)] = []

    /// `nice`: 10 for uploads, so that when the CPU is short a large batch waits rather than
    /// everybody else; predictions keep 0 (a thread can lower its priority but not raise
    /// it again without privileges, hence a pool per priority).
    init(threads count: Int, perAccount: Int, nice: Int = 10) {
        self.nice = nice
        threadCount = max(1, count)
        threads = NIOThreadPool(numberOfThreads: threadCount)
        threads.start()
        self.perAccount = max(1, perAccount)
    }

    /// Runs `body` on the decode threads once `account` has a free slot.
    func run<T: Sendable>(account: UUID, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        await acquire(account)
        defer { release(account) }
        let nice = nice
        return try await threads.runIfActive {
            if nice > 0 { ImageDecoder.lowerThreadPriority(nice) }   // one syscall
            return try body()
        }
    }

    /// Decodes running now (for tests and metrics).
    var inFlight: Int { lock.withLock { total } }

    private func admit(_ account: UUID) {
        running[account, default: 0] += 1
        total += 1
    }

    private func acquire(_ account: UUID) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = lock.withLock {
                let share = running[account, default: 0] < perAccount
                let borrow = total < threadCount && waiting.isEmpty
                if share || borrow { admit(account); return true }
                waiting.append((account, c))
                return false
            }
            if now { c.resume() }
        }
    }

    private func release(_ account: UUID) {
        let next: [CheckedContinuation<Void, Never>] = lock.withLock {
            running[account, default: 1] -= 1
            if running[account] == 0 { running[account] = nil }
            total -= 1
            var resumed: [CheckedContinuation<Void, Never>] = []
            // Waiters back within their share first, then borrowers while threads are idle.
            while let i = waiting.firstIndex(where: { running[$0.account, default: 0] < perAccount })
                    ?? (total < threadCount && !waiting.isEmpty ? 0 : nil) {
                let w = waiting.remove(at: i)
                admit(w.account)
                resumed.append(w.continuation)
            }
            return resumed
        }
        for c in next { c.resume() }
    }

    func shutdown() { try? threads.syncShutdownGracefully() }
}

struct DecodePoolKey: StorageKey { typealias Value = DecodePool }
struct PredictionDecodePoolKey: StorageKey { typealias Value = DecodePool }

extension Application {
    /// Uploads' decodes (nice 10).
    var decodePool: DecodePool {
        get { storage[DecodePoolKey.self]! }
        set { storage[DecodePoolKey.self] = newValue }
    }

    /// Predictions' decodes (normal priority: a saturated CPU must not starve the calls
    /// that answer users; measured 0.83 → 0.98 of the bare engine's throughput).
    var predictionDecodePool: DecodePool {
        get { storage[PredictionDecodePoolKey.self]! }
        set { storage[PredictionDecodePoolKey.self] = newValue }
    }
}

struct DecodePoolLifecycle: LifecycleHandler {
    func shutdown(_ app: Application) {
        app.storage[DecodePoolKey.self]?.shutdown()
        app.storage[PredictionDecodePoolKey.self]?.shutdown()
    }
}
