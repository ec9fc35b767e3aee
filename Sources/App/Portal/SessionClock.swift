import Fluent
import Vapor

/// When a portal session started and was last used (epoch seconds, kept in its data), and
/// the server-side end of sessions that were idle or old, whatever their cookie says.
enum SessionClock {
    static let created = "created", seen = "seen"

    static func isExpired(_ data: SessionData, settings: Settings, now: Date = Date()) -> Bool {
        let t = now.timeIntervalSince1970
        guard let c = data[created].flatMap(Double.init), let s = data[seen].flatMap(Double.init) else { return true }
        return t - c > settings.sessionMaxSeconds || t - s > settings.sessionIdleSeconds
    }

    /// Deletes expired session rows; returns how many.
    @discardableResult
    static func sweep(db: Database, settings: Settings, now: Date = Date()) async throws -> Int {
        var expired: [UUID] = []
        for row in try await SessionRecord.query(on: db).all() where isExpired(row.data, settings: settings, now: now) {
            if let id = row.id { expired.append(id) }
        }
        for chunk in stride(from: 0, to: expired.count, by: 500) {
            try await SessionRecord.query(on: db).filter(\.$id ~~ Array(expired[chunk..<min(chunk + 500, expired.count)])).delete()
        }
        return expired.count
    }
}
