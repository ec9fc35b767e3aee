import Fluent
import Foundation

/// One image of an iteration's training set, copied when training was asked for: the
/// image as it was, with its tags and regions as JSON (within the tag selection).
final class TrainedImage: Model, @unchecked Sendable {
    static let schema = "training_set_images"
    @ID(key: .id) var id: UUID?
    @Field(key: "iteration_id") var iterationID: UUID
    @Field(key: "image_id") var imageID: UUID
    @Field(key: "project_id") var projectID: UUID
    @Field(key: "original_hash") var originalHash: String
    @Field(key: "resized_hash") var resizedHash: String
    @Field(key: "thumbnail_hash") var thumbnailHash: String
    @Field(key: "format") var format: String
    @Field(key: "width") var width: Int
    @Field(key: "height") var height: Int
    @Field(key: "metadata_json") var metadataJSON: String
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "tags_json") var tagsJSON: String
    @Field(key: "regions_json") var regionsJSON: String
    init() {}

    struct LinkCopy: Codable { var tagId: UUID; var created: Date }
    struct RegionCopy: Codable { var id: UUID; var tagId: UUID; var left, top, width, height: Double; var created: Date }

    init(iteration: UUID, image: ImageRecord, links: [ImageTagLink], regions: [ImageRegion]) {
        iterationID = iteration; imageID = image.id!; projectID = image.projectID
        originalHash = image.originalHash; resizedHash = image.resizedHash; thumbnailHash = image.thumbnailHash
        format = image.format; width = image.width; height = image.height
        metadataJSON = image.metadataJSON; createdAt = image.createdAt
        tagsJSON = Self.json(links.map { LinkCopy(tagId: $0.tagID, created: $0.createdAt) })
        regionsJSON = Self.json(regions.map {
            RegionCopy(id: $0.id!, tagId: $0.tagID, left: $0.left, top: $0.top, width: $0.width, height: $0.height, created: $0.createdAt)
        })
    }

    private static func json<T: Encodable>(_ value: T) -> String {
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .secondsSince1970  // exact instants, as the row had them
        return String(decoding: (try? enc.encode(value)) ?? Data("[]".utf8), as: UTF8.self)
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ text: String) -> T? {
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = .secondsSince1970
        return try? dec.decode(type, from: Data(text.utf8))
    }

    /// The image as it was (an unsaved row: reading only).
    var image: ImageRecord {
        let r = ImageRecord()
        r.id = imageID; r.projectID = projectID
        r.originalHash = originalHash; r.resizedHash = resizedHash; r.thumbnailHash = thumbnailHash
        r.format = format; r.width = width; r.height = height; r.metadataJSON = metadataJSON; r.createdAt = createdAt
        return r
    }

    /// In the order they were made (the copy's JSON is built by the database, whose
    /// aggregate order is not to be relied on).
    var links: [ImageTagLink] {
        (Self.decode([LinkCopy].self, tagsJSON) ?? []).enumerated().sorted { ($0.element.created, $0.offset) < ($1.element.created, $1.offset) }.map(\.element).map { ImageTagLink(imageID: imageID, tagID: $0.tagId, projectID: projectID, at: $0.created) }
    }

    var regions: [ImageRegion] {
        (Self.decode([RegionCopy].self, regionsJSON) ?? []).enumerated().sorted { ($0.element.created, $0.offset) < ($1.element.created, $1.offset) }.map(\.element).map { c in
            let r = ImageRegion()
            r.id = c.id; r.imageID = imageID; r.tagID = c.tagId; r.projectID = projectID
            r.left = c.left; r.top = c.top; r.width = c.width; r.height = c.height; r.createdAt = c.created
            return r
        }
    }
}

/// One tag of an iteration's training set, as it was named and typed then.
final class TrainedTag: Model, @unchecked Sendable {
    static let schema = "training_set_tags"
    @ID(key: .id) var id: UUID?
    @Field(key: "iteration_id") var iterationID: UUID
    @Field(key: "tag_id") var tagID: UUID
    @Field(key: "name") var name: String
    @Field(key: "description") var description: String
    @Field(key: "type") var typeRaw: String
    @OptionalField(key: "created_at") var createdAt: Date?
    init() {}

    init(iteration: UUID, tag: Tag) {
        iterationID = iteration; tagID = tag.id!; name = tag.name; description = tag.description
        typeRaw = tag.typeRaw; createdAt = tag.createdAt
    }

    /// The tag as it was (an unsaved row: reading only).
    var tag: Tag {
        let t = Tag()
        t.id = tagID; t.setName(name); t.description = description; t.typeRaw = typeRaw; t.createdAt = createdAt
        return t
    }
}
