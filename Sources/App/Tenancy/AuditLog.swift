import Fluent
import Vapor

/// Records every admin change with its before and after state as JSON.
enum AuditLog {
    static func record<B: Encodable, A: Encodable>(actor: User, action: String, target: String,
                                                   before: B?, after: A?, on db: Database) async throws {
        let entry = AuditEntry()
        entry.actorID = actor.id!
        entry.actorEmail = actor.email
        entry.action = action
        entry.target = target
        entry.beforeJSON = try before.map(encode)
        entry.afterJSON = try after.map(encode)
        entry.at = Date()
        try await entry.create(on: db)
    }

    private static func encode<T: Encodable>(_ value: T) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try enc.encode(value), as: UTF8.self)
    }
}
