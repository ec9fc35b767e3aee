import Fluent
import Vapor

final class Project: Model, @unchecked Sendable {
    static let schema = "projects"
    @ID(key: .id) var id: UUID?
    @Field(key: "account_id") var accountID: UUID
    @Field(key: "name") var name: String
    @Field(key: "description") var description: String
    @Field(key: "domain_id") var domainID: UUID
    /// Classification or ObjectDetection, from the domain at creation.
    @Field(key: "project_type") var projectType: String
    @OptionalField(key: "classification_type") var classificationType: String?
    /// Comma-joined ExportPlatform names.
    @Field(key: "target_export_platforms") var targetExportPlatformsRaw: String
    /// ProjectSettings fields we keep but do not interpret yet (augmentation methods…).
    @Field(key: "settings_json") var settingsJSON: String
    /// `CreateProjectOptions`, stored and echoed in the settings; Sightline keeps exports
    /// in its own store and sends no queue notifications.
    @OptionalField(key: "export_model_container_uri") var exportModelContainerURI: String?
    @OptionalField(key: "notification_queue_uri") var notificationQueueURI: String?
    /// Succeeded, or Importing / Failed for a project made by `import_project`.
    @Field(key: "status") var status: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?
    init() {}

    var targetExportPlatforms: [String] {
        get { targetExportPlatformsRaw.split(separator: ",").map(String.init) }
        set { targetExportPlatformsRaw = newValue.joined(separator: ",") }
    }
}
