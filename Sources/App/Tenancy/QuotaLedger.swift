import Fluent
import SQLKit
import Vapor

/// The one path for every quota-consuming write. Call it inside the transaction that
/// inserts the rows, so a refused or failed insert gives the units back.
///
/// Atomicity: the counter row is upserted first (on SQLite that statement takes the
/// database's write lock before anything is read, so no two writers interleave), then
/// locked with `SELECT … FOR UPDATE` on PostgreSQL, read, and bumped by what fits.
enum QuotaLedger {
    struct Exceeded: Error {
        let quota: Quota
        let limit: Int?
    }

    /// Grants up to `amount` units and returns how many were granted (0…amount).
    static func reserve(_ quota: Quota, account: Account, project: UUID? = nil, upTo amount: Int,
                        on db: Database) async throws -> Int {
        guard amount > 0 else { return 0 }
        let sql = db as! SQLDatabase
        let accountID = account.id!
        let scope = quota.scope(project: project)
        let used = try await lock(quota, account: account, project: project, on: db)
        let limit = try await LimitResolver.limit(quota, for: account, on: db)
        let granted = limit.map { max(0, min(amount, $0 - used)) } ?? amount
        if granted > 0 {
            try await sql.raw("""
                UPDATE quota_usage SET used = used + \(bind: granted) WHERE account_id = \(bind: accountID) AND scope = \(bind: scope)
                """).run()
        }
        return granted
    }

    /// Creates the counter if needed and locks it for the rest of the transaction
    /// (the write lock on SQLite, the row lock on PostgreSQL); returns its value.
    /// Callers that must read before they reserve call this first.
    @discardableResult
    static func lock(_ quota: Quota, account: Account, project: UUID? = nil, on db: Database) async throws -> Int {
        let sql = db as! SQLDatabase
        let accountID = account.id!
        let scope = quota.scope(project: project)
        try await sql.raw("""
            INSERT INTO quota_usage (id, account_id, scope, used) VALUES (\(bind: UUID()), \(bind: accountID), \(bind: scope), 0)
            ON CONFLICT (account_id, scope) DO NOTHING
            """).run()
        let forUpdate = sql.dialect.name == "postgresql" ? " FOR UPDATE" : ""
        let row = try await sql.raw("""
            SELECT used FROM quota_usage WHERE account_id = \(bind: accountID) AND scope = \(bind: scope)\(unsafeRaw: forUpdate)
            """).first()
        return try row?.decode(column: "used", as: Int.self) ?? 0
    }

    /// Grants exactly `amount` units or throws `Exceeded`.
    static func consume(_ quota: Quota, account: Account, project: UUID? = nil, amount: Int = 1,
                        on db: Database) async throws {
        let granted = try await reserve(quota, account: account, project: project, upTo: amount, on: db)
        if granted < amount {
            throw Exceeded(quota: quota, limit: try await LimitResolver.limit(quota, for: account, on: db))
        }
    }

    /// One unit in one statement, outside any transaction: every prediction pays one, so
    /// it must cost a single round trip. The upsert grants the unit only while the counter
    /// is below the limit (read through `AccessCache`, so an edit made by another process
    /// applies within its lifetime) and returns the new count when it did.
    static func consumeOne(_ quota: Quota, account: Account, project: UUID? = nil, on db: Database) async throws {
        let accountID = account.id!
        let limit = try await AccessCache.shared.quotaLimit(account: accountID, quota: quota.rawValue) {
            try await LimitResolver.limit(quota, for: account, on: db)
        }
        if let limit, limit <= 0 { throw Exceeded(quota: quota, limit: limit) }
        let sql = db as! SQLDatabase
        let scope = quota.scope(project: project)
        let below: SQLQueryString = limit.map { "WHERE quota_usage.used < \(bind: $0)" } ?? ""
        let granted = try await sql.raw("""
            INSERT INTO quota_usage (id, account_id, scope, used) VALUES (\(bind: UUID()), \(bind: accountID), \(bind: scope), 1)
            ON CONFLICT (account_id, scope) DO UPDATE SET used = quota_usage.used + 1 \(below)
            RETURNING used
            """).all()
        if granted.isEmpty { throw Exceeded(quota: quota, limit: limit) }
    }

    /// Gives units back when rows are deleted.
    static func release(_ quota: Quota, account: Account, project: UUID? = nil, amount: Int = 1,
                        on db: Database) async throws {
        guard amount > 0 else { return }
        let sql = db as! SQLDatabase
        try await sql.raw("""
            UPDATE quota_usage SET used = CASE WHEN used >= \(bind: amount) THEN used - \(bind: amount) ELSE 0 END
            WHERE account_id = \(bind: account.id!) AND scope = \(bind: quota.scope(project: project))
            """).run()
    }

    /// Drops a project's counters when the project is deleted.
    static func forgetProject(_ project: UUID, account: Account, on db: Database) async throws {
        let scopes = [Quota.tagsPerProject, .imagesPerProject, .iterationsPerProject].map { $0.scope(project: project) }
        try await QuotaUsage.query(on: db).filter(\.$accountID == account.id!).filter(\.$scope ~~ scopes).delete()
    }

    static func used(_ quota: Quota, account: Account, project: UUID? = nil, on db: Database) async throws -> Int {
        try await QuotaUsage.query(on: db).filter(\.$accountID == account.id!)
            .filter(\.$scope == quota.scope(project: project)).first()?.used ?? 0
    }
}
