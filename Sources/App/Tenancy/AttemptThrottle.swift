import Crypto
import Fluent
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SQLKit
import Vapor

/// Sign-in and sign-up attempts as token buckets in the database: a bucket holds up to
/// `capacity` attempts and refills at `perSecond`. Taking a token is one conditional
/// UPDATE, so thirty concurrent attempts against five tokens get exactly five, in every
/// process sharing the database. An empty bucket slows the next attempt down (the answer
/// says when to retry); it never locks anyone out for good.
struct AttemptThrottle {
    struct Bucket: Sendable {
        var capacity: Double
        var perSecond: Double
    }
    /// Per (email, client): five tries, then one a minute. A stranger elsewhere cannot
    /// use up the owner's bucket, which is keyed by her own address.
    static let signInPair = Bucket(capacity: 5, perSecond: 1.0 / 60)
    /// Per client, across all emails: password spraying from one address.
    static let signInClient = Bucket(capacity: 30, perSecond: 1.0 / 10)
    /// Per email, across all clients: guessing from many addresses. It refuses only clients
    /// that have failed for this email lately, so attackers elsewhere cannot lock the owner out.
    static let signInEmail = Bucket(capacity: 50, perSecond: 1.0 / 20)
    /// Per client: new users.
    static let signUpClient = Bucket(capacity: 5, perSecond: 1.0 / 300)

    let db: Database

    /// A client as the buckets see it: an IPv6 address by its /64 (one host usually holds
    /// the whole /64), an IPv4 address as it is.
    static func clientKey(_ address: String) -> String {
        var v6 = in6_addr()
        guard address.contains(":"), inet_pton(AF_INET6, address, &v6) == 1 else { return address }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        return stride(from: 0, to: 8, by: 2).map { String(format: "%x", Int(bytes[$0]) << 8 | Int(bytes[$0 + 1])) }
            .joined(separator: ":") + "::/64"
    }

    /// Rows are keyed by a hash: what a client types never grows the key column.
    static func rowKey(_ key: String) -> String { SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined() }

    /// Takes one token from `key`'s bucket; nil when taken, else the seconds to wait.
    func take(_ rawKey: String, _ bucket: Bucket, now: Date = Date()) async throws -> Double? {
        try await takeCounting(rawKey, bucket, now: now).wait
    }

    /// Takes one token; `wasFull` when the bucket was full before this take, decided in the
    /// same statement, so of concurrent takes from a full bucket only one sees it full.
    func takeCounting(_ rawKey: String, _ bucket: Bucket, now: Date = Date()) async throws -> (wait: Double?, wasFull: Bool) {
        let sql = db as! SQLDatabase
        let key = Self.rowKey(rawKey)
        let t = now.timeIntervalSince1970
        try await sql.raw("""
            INSERT INTO sign_in_throttle (key, tokens, updated_at) VALUES (\(bind: key), \(bind: bucket.capacity), \(bind: t))
            ON CONFLICT (key) DO NOTHING
            """).run()
        let refilled: SQLQueryString = """
            (CASE WHEN tokens + (\(bind: t) - updated_at) * \(bind: bucket.perSecond) > \(bind: bucket.capacity) THEN \(bind: bucket.capacity)
                  ELSE tokens + (\(bind: t) - updated_at) * \(bind: bucket.perSecond) END)
            """
        let taken = try await sql.raw("""
            UPDATE sign_in_throttle SET tokens = \(refilled) - 1, updated_at = \(bind: t)
            WHERE key = \(bind: key) AND \(refilled) >= 1 RETURNING tokens
            """).first()
        if let taken { return (nil, try taken.decode(column: "tokens", as: Double.self) >= bucket.capacity - 1) }
        let row = try await sql.raw("SELECT tokens, updated_at FROM sign_in_throttle WHERE key = \(bind: key)").first()
        let tokens = try row?.decode(column: "tokens", as: Double.self) ?? 0
        let updated = try row?.decode(column: "updated_at", as: Double.self) ?? t
        let now = min(bucket.capacity, tokens + max(0, t - updated) * bucket.perSecond)
        return (max(1, ((1 - now) / bucket.perSecond).rounded(.up)), false)
    }

    /// Fills `key`'s bucket again (after a right password).
    func refill(_ key: String) async throws {
        try await (db as! SQLDatabase).raw("DELETE FROM sign_in_throttle WHERE key = \(bind: Self.rowKey(key))").run()
    }

    /// Returns the token an attempt took (after a right password).
    func giveBack(_ key: String, _ bucket: Bucket) async throws {
        try await (db as! SQLDatabase).raw("""
            UPDATE sign_in_throttle SET tokens = CASE WHEN tokens + 1 > \(bind: bucket.capacity) THEN \(bind: bucket.capacity) ELSE tokens + 1 END
            WHERE key = \(bind: Self.rowKey(key))
            """).run()
    }

    /// Buckets that have been full again for a day: nothing to remember.
    func sweep(now: Date = Date()) async throws {
        try await (db as! SQLDatabase).raw("DELETE FROM sign_in_throttle WHERE updated_at < \(bind: now.timeIntervalSince1970 - 86_400)").run()
    }

    static func tooMany(_ wait: Double) -> CVError {
        CVError(.tooManyRequests, "TooManyRequests",
                "Too many attempts. Try again in \(Int(wait)) seconds.", headers: ["Retry-After": String(Int(wait))])
    }
}
