import Fluent
import Foundation
import Vapor
import VisionEngine

/// Builds one export: the iteration's head and the shared backbone, packaged as the
/// export's platform and flavor ask, stored as a blob.
struct ExportJob {
    let app: Application
    let job: Job

    /// The export or its iteration is gone, or another worker finished it.
    struct Cancelled: Error {}

    func run() async throws {
        let db = app.db
        guard let id = job.exportID, let export = try await Export.find(id, on: db), export.status == "Exporting",
              let it = try await Iteration.find(export.iterationID, on: db), let hash = it.modelHash,
              let project = try await Project.find(it.projectID, on: db) else { throw Cancelled() }
        let target = ExportTarget(platform: export.platform, flavor: export.flavor)
        let blobs = app.blobStore
        let model = try await blobs.read(hash)
        let byID = try await ImageService(db: db).projectTags(project)
        // A tag deleted since training keeps its place in the output under its id.
        func tags(_ ids: [String]) -> [ExportPackager.TagInfo] {
            ids.map { id in
                let tag = UUID(uuidString: id).flatMap { byID[$0] }
                return ExportPackager.TagInfo(id: id, name: tag?.name ?? id, type: tag?.typeRaw ?? "Regular")
            }
        }
        let engine = app.engine
        let projectID = project.id!, iterationID = it.id!
        // The packager for the kind of model the iteration holds.
        let package: @Sendable (EfficientNetLite) throws -> Data
        let backbone: String
        if DetectorHead.isDetector(model) {
            let head = try DetectorHead.deserialise(model)
            backbone = head.backbone
            let labels = tags(head.tagIDs)
            package = { try DetectorExportPackager(backbone: $0, head: head, tags: labels, projectID: projectID,
                                                   iterationID: iterationID, version: Self.producerVersion).package(target) }
        } else {
            let head = try ClassifierHead.deserialise(model)
            backbone = head.backbone
            let labels = tags(head.tagIDs)
            // A fine-tuned iteration exports its own tail weights.
            package = { try ExportPackager(backbone: try $0.tuned(for: head), head: head, tags: labels, projectID: projectID,
                                           iterationID: iterationID, version: Self.producerVersion).package(target) }
        }
        let zip = try await engine.run { try package(try engine.backbone(named: backbone)) }
        let zipHash = try await blobs.put(zip)
        try await Export.query(on: db).filter(\.$id == id).filter(\.$status == "Exporting")
            .set(\.$status, to: "Done").set(\.$blobHash, to: zipHash).set(\.$error, to: nil).update()
    }

    /// Written into each model's `producer_version`.
    static let producerVersion = "1.0"
}
