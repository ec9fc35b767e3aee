import Fluent
import Vapor

final class SignInFailure: Model, @unchecked Sendable {
    static let schema = "sign_in_failures"
    @ID(key: .id) var id: UUID?
    @Field(key: "key") var key: String
    @Field(key: "at") var at: Date
    init() {}
    init(key: String, at: Date) { self.key = key; self.at = at }
}
