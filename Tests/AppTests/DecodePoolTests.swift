@testable import App
import Foundation
import NIOConcurrencyHelpers
import XCTest

/// The decode pool shares its threads: a lone account borrows idle ones, and another
/// account's decode never waits behind more than the decodes already running.
final class DecodePoolTests: XCTestCase {
    /// Runs `count` decodes of `account` that each hold a thread until `gate` opens.
    private func hold(_ pool: DecodePool, _ account: UUID, gate: NIOLockedValueBox<Bool>, started: NIOLockedValueBox<[UUID]>) -> Task<Void, Error> {
        Task {
            try await pool.run(account: account) {
                started.withLockedValue { $0.append(account) }
                while !gate.withLockedValue({ $0 }) { usleep(1000) }
            }
        }
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(30)  // a loaded machine, not a slow pool
        while !condition() && Date() < deadline { try await Task.sleep(nanoseconds: 1_000_000) }
        XCTAssertTrue(condition())
    }

    func testALoneAccountBorrowsIdleThreadsButOthersGoFirst() async throws {
        let pool = DecodePool(threads: 2, perAccount: 1)
        defer { pool.shutdown() }
        let a = UUID(), b = UUID()
        let gate = NIOLockedValueBox(false), started = NIOLockedValueBox<[UUID]>([])
        // Alone, account A runs two decodes at once; the third waits.
        let a1 = hold(pool, a, gate: gate, started: started), a2 = hold(pool, a, gate: gate, started: started)
        try await waitUntil { started.withLockedValue { $0.count } == 2 }
        let a3 = hold(pool, a, gate: gate, started: started)
        try await Task.sleep(nanoseconds: 50_000_000)
        XCTAssertEqual(pool.inFlight, 2)
        // B is within its share: admitted at once, ahead of A's waiting third decode.
        let b1 = hold(pool, b, gate: gate, started: started)
        try await waitUntil { pool.inFlight == 3 }
        gate.withLockedValue { $0 = true }
        for t in [a1, a2, a3, b1] { try await t.value }
        let order = started.withLockedValue { $0 }
        XCTAssertEqual(order.count, 4)
        XCTAssertEqual(order.firstIndex(of: b), 2, "B ran before A's third decode: \(order)")
        XCTAssertEqual(pool.inFlight, 0)
    }
}
