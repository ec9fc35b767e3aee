import NIOConcurrencyHelpers
import NIOPosix
import Vapor
import VisionEngine

/// Image decoding and resizing run here, on threads of their own, never on the pool that
/// serves database access, password hashing and blob reads; and each account may run at
/// most `perAccount` decodes at once, so one tenant's large images queue behind each other
/// rather than in front of everybody else's.
final class DecodePool: @unchecked Sendable {
    let threads: NIOThreadPool
    let perAccount: Int
    private let lock = NIOLock()
    private var running: [UUID: Int] = [:]
    private var waiting: [UUID: [CheckedContinuation<Void, Never>]] = [:]

    init(threads count: Int, perAccount: Int) {
        threads = NIOThreadPool(numberOfThreads: max(1, count))
        threads.start()
        self.perAccount = max(1, perAccount)
    }

    /// Runs `body` on the decode threads once `account` has a free slot.
    func run<T: Sendable>(account: UUID, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        await acquire(account)
        defer { release(account) }
        return try await threads.runIfActive {
            // Decode threads run at nice 10, below the threads that answer requests: when
            // the CPU is short, a large image waits rather than everybody else (one syscall).
            ImageDecoder.lowerThreadPriority(10)
            return try body()
        }
    }

    private func acquire(_ account: UUID) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = lock.withLock {
                if running[account, default: 0] < perAccount { running[account, default: 0] += 1; return true }
                waiting[account, default: []].append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    private func release(_ account: UUID) {
        let next: CheckedContinuation<Void, Never>? = lock.withLock {
            if var queue = waiting[account], !queue.isEmpty {
                let c = queue.removeFirst()
                waiting[account] = queue.isEmpty ? nil : queue
                return c   // the slot passes to the next waiter
            }
            running[account, default: 1] -= 1
            if running[account] == 0 { running[account] = nil }
            return nil
        }
        next?.resume()
    }

    func shutdown() { try? threads.syncShutdownGracefully() }
}

struct DecodePoolKey: StorageKey { typealias Value = DecodePool }

extension Application {
    var decodePool: DecodePool {
        get { storage[DecodePoolKey.self]! }
        set { storage[DecodePoolKey.self] = newValue }
    }
}

struct DecodePoolLifecycle: LifecycleHandler {
    func shutdown(_ app: Application) { app.storage[DecodePoolKey.self]?.shutdown() }
}
