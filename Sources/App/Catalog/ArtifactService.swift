import Fluent
import Foundation

/// A project's stored files by the relative path its image records name (`get_artifact`):
/// `blobs/<hash>`, the path of an image's `originalImageUri`, `resizedImageUri` or
/// `thumbnailUri` (a whole URI is read for its path). Only files of the project's own images
/// (now, or in an iteration's training set) are served; any other path is refused as one that names nothing.
struct ArtifactService {
    let db: Database
    let blobs: any BlobStore

    static let maxPathLength = 2048

    /// The blob hash a relative path names, or nil when it is not an artifact path.
    static func hash(inPath raw: String) -> String? {
        guard raw.count <= maxPathLength else { return nil }
        let path = URLComponents(string: raw)?.path ?? raw
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "blobs", Blob.isHash(String(parts[1])) else { return nil }
        return String(parts[1])
    }

    func artifact(project: Project, path: String) async throws -> Data {
        let refused = CVError.badRequest("BadRequestInvalidArtifactUri", "The path names no artifact of this project.")
        guard let hash = Self.hash(inPath: path) else { throw refused }
        let owner = try await ImageRecord.query(on: db).filter(\.$projectID == project.id!)
            .group(.or) { $0.filter(\.$originalHash == hash).filter(\.$resizedHash == hash).filter(\.$thumbnailHash == hash) }
            .first()
        // An image deleted since an iteration trained on it stays readable while that iteration does.
        let trainedOn = owner != nil ? nil : try await TrainedImage.query(on: db).filter(\.$projectID == project.id!)
            .group(.or) { $0.filter(\.$originalHash == hash).filter(\.$resizedHash == hash).filter(\.$thumbnailHash == hash) }
            .first()
        guard owner != nil || trainedOn != nil, try await blobs.exists(hash) else { throw refused }
        return try await blobs.read(hash)
    }
}
