import Fluent
import Vapor

final class ImageRecord: Model, @unchecked Sendable {
    static let schema = "images"
    @ID(key: .id) var id: UUID?
    @Field(key: "project_id") var projectID: UUID
    @Field(key: "original_hash") var originalHash: String
    @Field(key: "resized_hash") var resizedHash: String
    @Field(key: "thumbnail_hash") var thumbnailHash: String
    @Field(key: "format") var format: String
    @Field(key: "width") var width: Int
    @Field(key: "height") var height: Int
    @Field(key: "metadata_json") var metadataJSON: String
    @Field(key: "created_at") var createdAt: Date
    init() {}

    var metadata: [String: String] {
        get { (try? JSONDecoder().decode([String: String].self, from: Data(metadataJSON.utf8))) ?? [:] }
        set {
            let enc = JSONEncoder()
            enc.outputFormatting = .sortedKeys
            metadataJSON = String(decoding: (try? enc.encode(newValue)) ?? Data("{}".utf8), as: UTF8.self)
        }
    }
}

final class ImageTagLink: Model, @unchecked Sendable {
    static let schema = "image_tags"
    @ID(key: .id) var id: UUID?
    @Field(key: "image_id") var imageID: UUID
    @Field(key: "tag_id") var tagID: UUID
    @Field(key: "project_id") var projectID: UUID
    @Field(key: "created_at") var createdAt: Date
    init() {}
    init(imageID: UUID, tagID: UUID, projectID: UUID, at: Date) {
        self.imageID = imageID; self.tagID = tagID; self.projectID = projectID; self.createdAt = at
    }
}

final class ImageRegion: Model, @unchecked Sendable {
    static let schema = "image_regions"
    @ID(key: .id) var id: UUID?
    @Field(key: "image_id") var imageID: UUID
    @Field(key: "tag_id") var tagID: UUID
    @Field(key: "project_id") var projectID: UUID
    @Field(key: "left") var left: Double
    @Field(key: "top") var top: Double
    @Field(key: "width") var width: Double
    @Field(key: "height") var height: Double
    @Field(key: "created_at") var createdAt: Date
    init() {}
}

/// A normalised box as sent by clients.
struct RegionBox: Codable, Sendable, Equatable {
    var tagId: String
    var left: Double
    var top: Double
    var width: Double
    var height: Double

    /// Inside the image, positive size, finite (a little float slack at the edges).
    var isValid: Bool {
        let eps = 1e-6
        return [left, top, width, height].allSatisfy(\.isFinite) && left >= -eps && top >= -eps
            && width > 0 && height > 0 && left + width <= 1 + eps && top + height <= 1 + eps
    }
}
