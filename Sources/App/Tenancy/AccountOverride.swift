import Fluent
import Vapor

/// A per-account limit that beats the tier. `value` nil = unlimited.
final class AccountOverride: Model, @unchecked Sendable {
    static let schema = "account_overrides"
    @ID(key: .id) var id: UUID?
    @Field(key: "account_id") var accountID: UUID
    @Field(key: "limit_name") var limitName: String
    @OptionalField(key: "value") var value: Int?
    init() {}
}
