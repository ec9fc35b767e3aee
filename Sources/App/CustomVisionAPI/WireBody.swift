import Foundation
import Vapor

/// JSON request bodies read as Custom Vision's ASP.NET service reads them: property names
/// in any case (Microsoft's own REST samples send `{"Url": …}`), and a body that is not
/// JSON refused with 415 `UnsupportedMediaType` instead of a parse error.
enum WireBody {
    /// Every property name of the request bodies, by its lower-case spelling: a request
    /// DTO's new property is matched in any case only once it is listed here.
    static let names: [String: String] = Dictionary(uniqueKeysWithValues: [
        // images: files, urls, predictions, tags, regions
        "images", "name", "contents", "url", "id", "tagIds", "regions", "metadata", "tags", "imageId", "tagId",
        "left", "top", "width", "height",
        // projects, tags, iterations
        "description", "settings", "domainId", "classificationType", "targetExportPlatforms", "useNegativeSet",
        "imageProcessingSettings", "augmentationMethods", "exportModelContainerUri", "notificationQueueUri", "type",
        "selectedTags",
        // stored-prediction queries
        "session", "continuation", "maxCount", "orderBy", "iterationId", "startTime", "endTime", "application",
        "minThreshold", "maxThreshold",
    ].map { ($0.lowercased(), $0) })

    /// Objects whose keys are the caller's data (metadata names, augmentation methods), not
    /// property names: their keys are left as sent.
    static let dataObjects: Set<String> = ["metadata", "augmentationMethods"]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static func canonical(_ path: [CodingKey]) -> CodingKey {
        let key = path.last!
        guard key.intValue == nil, !path.dropLast().contains(where: { dataObjects.contains($0.stringValue) }) else { return key }
        return Key(stringValue: names[key.stringValue.lowercased()] ?? key.stringValue)
    }

    static func isJSON(_ type: HTTPMediaType?) -> Bool {
        guard let type else { return true }   // no Content-Type: read as JSON, as the SDK's raw callers expect
        let sub = type.subType.lowercased()
        return type.type.lowercased() == "application" && (sub == "json" || sub.hasSuffix("+json"))
    }
}

extension Request {
    /// The body of a JSON operation decoded as `T` (see `WireBody`); `decoder` carries any
    /// date or data strategy the operation needs. `keysAreData`: the body is one object of
    /// the caller's names (image metadata), read as sent.
    func wireBody<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder(), keysAreData: Bool = false) throws -> T {
        guard WireBody.isJSON(headers.contentType) else {
            throw CVError(.unsupportedMediaType, "UnsupportedMediaType",
                          "This operation reads a JSON body (Content-Type: application/json), not \(headers.first(name: .contentType) ?? "").")
        }
        if !keysAreData { decoder.keyDecodingStrategy = .custom(WireBody.canonical) }
        let bytes = body.data.map { Data(buffer: $0) } ?? Data()
        return try decoder.decode(T.self, from: bytes)
    }
}
