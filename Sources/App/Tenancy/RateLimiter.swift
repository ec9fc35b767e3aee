import Fluent
import SQLKit
import Vapor

/// Transactions-per-second limits, counted in the database in one-second windows so
/// that several server processes share one budget. Over the limit: 429 + Retry-After.
enum RateLimiter {
    /// Counts one call; returns the account's count across processes this second.
    static func count(account: Account, kind: String, now: Date = Date(), on db: Database) async throws -> Int {
        let sql = db as! SQLDatabase
        let window = Int64(now.timeIntervalSince1970.rounded(.down))
        let row = try await sql.raw("""
            INSERT INTO rate_windows (id, account_id, kind, window_start, count)
            VALUES (\(bind: UUID()), \(bind: account.id!), \(bind: kind), \(bind: window), 1)
            ON CONFLICT (account_id, kind, window_start) DO UPDATE SET count = rate_windows.count + 1
            RETURNING count
            """).first()
        let count = try row?.decode(column: "count", as: Int.self) ?? 1
        if count == 1, Int.random(in: 0..<64) == 0 {
            // Now and then, forget windows older than a minute.
            try await sql.raw("DELETE FROM rate_windows WHERE window_start < \(bind: window - 60)").run()
        }
        return count
    }
}

/// Applies one of the account's per-second limits (tier or override; by default
/// `transactionsPerSecond`) to a route group.
struct RateLimitMiddleware: AsyncMiddleware {
    let kind: String
    var quota: Quota = .transactionsPerSecond

    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        try await Self.check(account: request.account, kind: kind, quota: quota, on: request.db)
        return try await next.respond(to: request)
    }

    /// Holds `account` to its `quota` (a per-second limit). A call within the limit goes on;
    /// a call in the second `limit` of this second (a burst, as nginx's `limit_req` allows)
    /// waits for the next second and is counted there, so a sequential script slightly over
    /// the rate is paced rather than refused; past that, or again over the limit after its
    /// wait, it answers 429. Counted first in memory, so calls past the limit in this process
    /// never reach the database; the database count stays the truth across processes.
    static func check(account: Account, kind: String, quota: Quota = .transactionsPerSecond, on db: Database) async throws {
        let id = account.id!
        guard let limit = try await AccessCache.shared.quotaLimit(account: id, quota: quota.rawValue, load: {
            try await LimitResolver.limit(quota, for: account, on: db)
        }) else { return }
        var admitted = false
        for attempt in 0..<2 where !admitted {
            let now = Date()
            var count = LocalRateWindow.shared.count(account: id, kind: kind, now: now)
            if count <= limit { count = try await RateLimiter.count(account: account, kind: kind, now: now, on: db) }
            admitted = count <= limit
            guard !admitted, attempt == 0, count - limit <= limit else { break }
            let next = now.timeIntervalSince1970.rounded(.down) + 1
            try await Task.sleep(nanoseconds: UInt64(max(0, next - Date().timeIntervalSince1970) * 1e9) + 1_000_000)
        }
        if !admitted {
            throw CVError(.tooManyRequests, "TooManyRequests",
                          "Rate limit of \(limit) \(quota == .transactionsPerSecond ? "transactions" : "training calls") per second exceeded; retry after 1 second.",
                          headers: ["Retry-After": "1"])
        }
    }
}
