import Fluent
import SQLKit
import Vapor

/// Transactions-per-second limits, counted in the database in one-second windows so
/// that several server processes share one budget. Over the limit: 429 + Retry-After.
enum RateLimiter {
    /// Counts one call; returns false when the account is over `limit` this second.
    static func admit(account: Account, kind: String, limit: Int, now: Date = Date(), on db: Database) async throws -> Bool {
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
        return count <= limit
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

    /// 429 when `account` is over its `quota` (a per-second limit): refused in memory when
    /// this process alone has seen too many calls this second, else counted in the database.
    static func check(account: Account, kind: String, quota: Quota = .transactionsPerSecond, on db: Database) async throws {
        let id = account.id!
        guard let limit = try await AccessCache.shared.quotaLimit(account: id, quota: quota.rawValue, load: {
            try await LimitResolver.limit(quota, for: account, on: db)
        }) else { return }
        let admitted = LocalRateWindow.shared.admit(account: id, kind: kind, limit: limit)
            ? try await RateLimiter.admit(account: account, kind: kind, limit: limit, on: db) : false
        if !admitted {
            throw CVError(.tooManyRequests, "TooManyRequests",
                          "Rate limit of \(limit) \(quota == .transactionsPerSecond ? "transactions" : "training calls") per second exceeded; retry after 1 second.",
                          headers: ["Retry-After": "1"])
        }
    }
}
