import Fluent
import Vapor
import VisionEngine

/// Region proposals for a training image (`get_image_region_proposals`, and the box
/// editor's suggestions): the boxes the project's newest trained detection iteration finds
/// on it, most confident first, whatever their tag. A project that has not trained a
/// detector yet has no proposals.
struct RegionProposalService {
    let app: Application
    let db: Database
    static let minimumConfidence: Float = 0.05
    static let maximumProposals = 32

    struct Proposal: Sendable { var confidence: Float; var tagID: String; var box: NormalisedBox }

    /// One prediction of `account`'s monthly quota, given back when nothing was predicted.
    func proposals(project: Project, imageID: UUID, account: Account) async throws -> [Proposal] {
        guard project.projectType == "ObjectDetection" else {
            throw CVError.badRequest("BadRequestNotSupported", "Region proposals are for object detection projects.")
        }
        guard let image = try await ImageRecord.find(imageID, on: db), image.projectID == project.id else {
            throw CVError.notFound("NotFoundImage", "Image not found.")
        }
        guard let it = try await Iteration.query(on: db).filter(\.$projectID == project.id!).filter(\.$status == "Completed")
            .sort(\.$number, .descending).first() else { return [] }
        let found = try await PredictionService(app: app, db: db).counted(account: account) { _ in
            let blobs = app.blobStore
            let data = try await blobs.read(image.originalHash)
            do { return try await app.predictor.detect(data, iteration: it, account: project.accountID, app: app) } catch is ImageDecodeError {
                throw CVError(.internalServerError, "ErrorRegionProposal", "The stored image could not be decoded.")
            }
        }
        return found.filter { $0.detection.probability >= Self.minimumConfidence }.prefix(Self.maximumProposals)
            .map { Proposal(confidence: $0.detection.probability, tagID: $0.tagID, box: $0.detection.box) }
    }
}
