import Fluent
import Vapor

enum TagType: String, CaseIterable, Sendable {
    case regular = "Regular", negative = "Negative", generalProduct = "GeneralProduct"

    /// Case-insensitive, as msrest is lenient with enums on the way in.
    init?(wire: String) {
        guard let t = TagType.allCases.first(where: { $0.rawValue.lowercased() == wire.lowercased() }) else { return nil }
        self = t
    }
}

final class Tag: Model, @unchecked Sendable {
    static let schema = "tags"
    @ID(key: .id) var id: UUID?
    @Field(key: "project_id") var projectID: UUID
    @Field(key: "name") var name: String
    @Field(key: "name_key") var nameKey: String
    @Field(key: "description") var description: String
    @Field(key: "type") var typeRaw: String
    @OptionalField(key: "exclusive_type") var exclusiveType: String?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    init() {}

    var type: TagType {
        get { TagType(rawValue: typeRaw) ?? .regular }
        set { typeRaw = newValue.rawValue; exclusiveType = newValue == .regular ? nil : newValue.rawValue }
    }

    func setName(_ n: String) { name = n; nameKey = n.lowercased() }
}
