import Fluent
import Foundation

/// A project `import-customvision` made, and the source project it copies.
final class ImportedProject: Model, @unchecked Sendable {
    static let schema = "imported_projects"
    @ID(key: .id) var id: UUID?
    @Field(key: "account_id") var accountID: UUID
    @Field(key: "project_id") var projectID: UUID
    /// The endpoint as normalised by `CustomVisionImporter.normalise`.
    @Field(key: "source_endpoint") var sourceEndpoint: String
    @Field(key: "source_project_id") var sourceProjectID: String
    @Field(key: "created_at") var createdAt: Date
    init() {}
}
