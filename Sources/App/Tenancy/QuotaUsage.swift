import Fluent
import Vapor

final class QuotaUsage: Model, @unchecked Sendable {
    static let schema = "quota_usage"
    @ID(key: .id) var id: UUID?
    @Field(key: "account_id") var accountID: UUID
    @Field(key: "scope") var scope: String
    @Field(key: "used") var used: Int
    init() {}
}
