import Fluent
import Vapor

/// A resource account: what an Azure Custom Vision resource is. Owns keys and projects.
final class Account: Model, @unchecked Sendable {
    static let schema = "accounts"
    @ID(key: .id) var id: UUID?
    @Field(key: "owner_id") var ownerID: UUID
    @Field(key: "name") var name: String
    /// Immutable ARM name fixed at creation, so renaming never changes the resource id.
    @Field(key: "resource_name") var resourceName: String
    @Field(key: "tier_code") var tierCode: String
    /// Equals ownerID while the tier is F0; a unique index makes "one F0 per user" race-free.
    @OptionalField(key: "free_owner_id") var freeOwnerID: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    init() {}

    func setTier(_ code: String) {
        tierCode = code
        freeOwnerID = code == "F0" ? ownerID : nil
    }

    var resourceID: String {
        "/subscriptions/\(ownerID.uuidString.lowercased())/resourceGroups/sightline/providers/Microsoft.CognitiveServices/accounts/\(resourceName)"
    }
}
