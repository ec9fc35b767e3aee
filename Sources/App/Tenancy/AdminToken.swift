import Fluent
import Vapor

final class AdminToken: Model, @unchecked Sendable {
    static let schema = "admin_tokens"
    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userID: UUID
    @Field(key: "token_hash") var tokenHash: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    /// Tokens issued before expiry existed have none; they end only when revoked.
    @OptionalField(key: "expires_at") var expiresAt: Date?
    @OptionalField(key: "revoked_at") var revokedAt: Date?
    init() {}

    /// How long a new token is valid (ADMIN_TOKEN_DAYS, default 90).
    static var lifetime: TimeInterval {
        let days = Double(ProcessInfo.processInfo.environment["ADMIN_TOKEN_DAYS"] ?? "") ?? 90
        return min(3650, max(1, days)) * 86_400
    }

    func isValid(now: Date = Date()) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true)
    }
}
