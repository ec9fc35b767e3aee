import Fluent
import Vapor

/// One admin change: who, what, before, after, when.
final class AuditEntry: Model, @unchecked Sendable {
    static let schema = "audit_log"
    @ID(key: .id) var id: UUID?
    @Field(key: "actor_id") var actorID: UUID
    @Field(key: "actor_email") var actorEmail: String
    @Field(key: "action") var action: String
    @Field(key: "target") var target: String
    @OptionalField(key: "before_json") var beforeJSON: String?
    @OptionalField(key: "after_json") var afterJSON: String?
    @Field(key: "at") var at: Date
    init() {}
}
