import Fluent
import Vapor

final class AdminToken: Model, @unchecked Sendable {
    static let schema = "admin_tokens"
    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userID: UUID
    @Field(key: "token_hash") var tokenHash: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    init() {}
}
