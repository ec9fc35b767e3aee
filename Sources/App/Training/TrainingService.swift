import Crypto
import Fluent
import Vapor
import VisionEngine

/// train_project and the iteration operations: validation as Custom Vision does it,
/// the iterations-per-project quota, publishing to a prediction account.
struct TrainingService {
    let db: Database
    static let minImagesPerTag = 5

    func iterations(_ project: Project) async throws -> [Iteration] {
        try await Iteration.query(on: db).filter(\.$projectID == project.id!).sort(\.$number, .descending).all()
    }

    func iteration(_ project: Project, id: String) async throws -> Iteration {
        guard let uuid = UUID(uuidString: id), let it = try await Iteration.find(uuid, on: db), it.projectID == project.id else {
            throw CVError.notFound("NotFoundIteration", "Iteration not found.")
        }
        return it
    }

    /// One of the project's iterations whose training set was recorded (queries by
    /// `iterationId` read it: `TrainingSetQueries`).
    func recordedIteration(_ project: Project, iterationID: String) async throws -> Iteration {
        let it = try await iteration(project, id: iterationID)
        guard try await TrainingSetQueries(db: db).tags(iteration: it.id!) != nil else {
            throw CVError.notFound("NotFoundIteration",
                                   "\(it.name) was trained before Sightline recorded training sets, so what it trained on is not known; train again to query by iteration.")
        }
        return it
    }

    func train(account: Account, project: Project, trainingType rawType: String?, budgetHours: Int, force: Bool,
               selectedTags: [String]? = nil) async throws -> Iteration {
        let trainingType = ["Regular", "Advanced"].first { $0.lowercased() == (rawType ?? "Regular").lowercased() }
        guard let trainingType else { throw CVError.badRequest("BadRequest", "trainingType is Regular or Advanced.") }
        guard budgetHours >= 0, budgetHours <= 24 * 7 else {
            throw CVError.badRequest("BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining", "reservedBudgetInHours must be 0 to 168.")
        }
        // Azure reserves Advanced training in whole hours: a budget of 0 (the SDK's default) is refused.
        if trainingType == "Advanced", budgetHours < 1 {
            throw CVError.badRequest("BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining",
                                     "Advanced training needs reservedBudgetInHours of at least 1 (hours, up to 168).")
        }
        guard project.status == "Succeeded" else {
            throw CVError.badRequest("BadRequestTrainingValidationFailed",
                                     project.status == "Importing" ? "The project is still importing; train it when the import has finished."
                                         : "The project's import failed; it cannot be trained.")
        }
        let detection = project.projectType == "ObjectDetection"
        if detection, !(try await LimitResolver.objectDetectionEnabled(for: account, on: db)) {
            throw CVError.badRequest("BadRequestNotSupported", "Object detection is not enabled on this account's tier.")
        }
        if try await Iteration.query(on: db).filter(\.$projectID == project.id!).filter(\.$status == "Training").count() > 0 {
            throw CVError.badRequest("BadRequestTrainingAlreadyInProgress", "This project is already training.")
        }
        let tags = try await Tag.query(on: db).filter(\.$projectID == project.id!).all()
        var selected: Set<UUID>?
        if let raw = selectedTags, !raw.isEmpty {
            let ids = raw.compactMap { UUID(uuidString: $0) }
            guard ids.count == raw.count, Set(ids).isSubset(of: Set(tags.compactMap(\.id))) else {
                throw CVError.badRequest("BadRequestInvalidIds", "selectedTags names a tag that is not in the project.")
            }
            selected = Set(ids)
        }
        let labels = try await LabelSnapshot.read(project: project.id!, detection: detection, selected: selected, on: db)
        if detection {
            try Self.validateDetection(tags: tags, tagsByImage: labels.tagsByImage)
        } else {
            try Self.validateClassification(project: project, tags: tags, tagsByImage: labels.tagsByImage)
        }
        let print = labels.fingerprint(domain: project.domainID, classificationType: project.classificationType)
        if !force, let last = try await Iteration.query(on: db).filter(\.$projectID == project.id!).filter(\.$status == "Completed")
            .sort(\.$number, .descending).first(), last.fingerprint == print {
            throw CVError.badRequest("BadRequestTrainingNotNeeded", "Nothing changed since \(last.name); use forceTrain to train again.")
        }
        let selection = selected
        let iteration = try await db.writeTransaction { tx in
            try await QuotaLedger.consume(.iterationsPerProject, account: account, project: project.id, on: tx)
            let number = (try await Iteration.query(on: tx).filter(\.$projectID == project.id!).max(\.$number) ?? 0) + 1
            let it = Iteration()
            it.projectID = project.id!; it.number = number; it.name = "Iteration \(number)"; it.status = "Training"
            it.trainingType = trainingType; it.budgetHours = budgetHours; it.domainID = project.domainID
            it.classificationType = project.classificationType; it.fingerprint = print; it.progress = 0; it.isDefault = false
            it.selectedTags = selection.map { $0.map { $0.uuidString.lowercased() }.sorted().joined(separator: ",") }
            try await it.create(on: tx)
            try await TrainingSet.record(iteration: it.id!, project: project.id!, selected: selection, on: tx)
            try await JobQueue(db: tx).enqueue(kind: "train", iteration: it.id!, on: tx)
            return it
        }
        JobWakeup.shared.signal()
        return iteration
    }

    static func validateClassification(project: Project, tags: [Tag], tagsByImage: [UUID: Set<UUID>]) throws {
        var perTag: [UUID: Int] = [:]
        for (_, ts) in tagsByImage { for t in ts { perTag[t, default: 0] += 1 } }
        let multiclass = project.classificationType == "Multiclass"
        let code = multiclass ? "BadRequestMultiClassClassificationTrainingValidationFailed" : "BadRequestMultiLabelClassificationTrainingValidationFailed"
        let usedTags = tags.filter { (perTag[$0.id!] ?? 0) > 0 }
        guard usedTags.count >= 2 else {
            throw CVError.badRequest(code, "Training needs at least 2 tags with images; this project has \(usedTags.count).")
        }
        if let thin = usedTags.first(where: { perTag[$0.id!]! < Self.minImagesPerTag }) {
            throw CVError.badRequest(code, "Tag '\(thin.name)' has \(perTag[thin.id!]!) images; every tag needs at least \(Self.minImagesPerTag).")
        }
        if multiclass, let mixed = tagsByImage.first(where: { $0.value.count > 1 }) {
            throw CVError.badRequest(code, "Image \(mixed.key.uuidString.lowercased()) has several tags, but the project is multiclass.")
        }
    }

    static let minImagesPerDetectionTag = 15

    /// As Custom Vision: every tag used in regions has regions on at least 15 images;
    /// images without regions are not used; Negative tags have no place in regions.
    static func validateDetection(tags: [Tag], tagsByImage: [UUID: Set<UUID>]) throws {
        let code = "BadRequestDetectionTrainingValidationFailed"
        var perTag: [UUID: Int] = [:]
        for (_, ts) in tagsByImage { for t in ts { perTag[t, default: 0] += 1 } }
        let used = tags.filter { (perTag[$0.id!] ?? 0) > 0 }
        if used.contains(where: { $0.type == .negative }) {
            throw CVError.badRequest("BadRequestDetectionTrainingNotAllowNegativeTag", "Object detection cannot train on regions of a Negative tag.")
        }
        guard !used.isEmpty else {
            throw CVError.badRequest(code, "Training needs images with regions; this project has none.")
        }
        if let thin = used.sorted(by: { $0.name < $1.name }).first(where: { perTag[$0.id!]! < minImagesPerDetectionTag }) {
            throw CVError.badRequest(code, "Tag '\(thin.name)' has regions on \(perTag[thin.id!]!) images; every tag needs at least \(minImagesPerDetectionTag).")
        }
    }

    func rename(_ it: Iteration, to name: String) async throws -> Iteration {
        guard TextRules.validName(name, max: 256) else {
            throw CVError.badRequest("BadRequestIterationName", "Iteration names have 1 to 256 characters without control characters.")
        }
        it.name = name.trimmingCharacters(in: .whitespaces)
        try await it.save(on: db)
        return it
    }

    /// Deletes an iteration with its training set; a running training job is cancelled.
    /// Returns the blobs the set kept, for `BlobSweeper.freeLater`.
    @discardableResult
    func delete(account: Account, project: Project, _ it: Iteration) async throws -> Set<String> {
        defer { PublishedModels.shared.invalidateAll() }
        guard it.publishName == nil else {
            throw CVError.badRequest("BadRequestIterationIsPublished", "Unpublish the iteration before deleting it.")
        }
        return try await db.writeTransaction { tx in
            try await QuotaLedger.release(.iterationsPerProject, account: account, project: project.id, on: tx)
            try await Job.query(on: tx).filter(\.$iterationID == it.id!).filter(\.$state ~~ ["queued", "running"])
                .set(\.$state, to: "cancelled").update()
            let kept = try await TrainingSet.blobs(iteration: it.id!, on: tx)
            try await TrainedImage.query(on: tx).filter(\.$iterationID == it.id!).delete()
            try await TrainedTag.query(on: tx).filter(\.$iterationID == it.id!).delete()
            try await it.delete(on: tx)
            return kept
        }
    }

    /// The v2 API's `update_iteration(isDefault:)`: one default iteration per project, a
    /// Completed one.
    func setDefault(project: Project, _ it: Iteration, _ isDefault: Bool) async throws -> Iteration {
        if isDefault, it.status != "Completed" {
            throw CVError.badRequest("BadRequestIterationIsNotTrained", "Only a completed iteration can be the default.")
        }
        try await db.writeTransaction { tx in
            if isDefault {
                try await Iteration.query(on: tx).filter(\.$projectID == project.id!).filter(\.$id != it.id!).set(\.$isDefault, to: false).update()
            }
            try await Iteration.query(on: tx).filter(\.$id == it.id!).set(\.$isDefault, to: isDefault).update()
        }
        it.isDefault = isDefault
        return it
    }

    /// The iteration a v2 prediction without `iterationId` uses.
    func defaultIteration(_ project: Project) async throws -> Iteration {
        guard let it = try await Iteration.query(on: db).filter(\.$projectID == project.id!).filter(\.$isDefault == true).first() else {
            throw CVError.notFound("NotFoundProjectDefaultIteration", "The project has no default iteration; make one default with update_iteration, or pass iterationId.")
        }
        return it
    }

    func publish(project: Project, _ it: Iteration, name: String, predictionID: String, overwrite: Bool) async throws {
        defer { PublishedModels.shared.invalidateAll() }
        guard it.status == "Completed" else {
            throw CVError.badRequest("BadRequestIterationIsNotTrained", "Only a completed iteration can be published.")
        }
        guard TextRules.validName(name, max: 256), !name.contains("/") else {
            throw CVError.badRequest("BadRequestInvalidPublishName", "Publish names have 1 to 256 characters, no '/' or control characters.")
        }
        // The target must be an account of the project owner's, named by its ARM resource id.
        guard let projectAccount = try await Account.find(project.accountID, on: db) else { throw CVError.projectNotFound }
        let candidates = try await Account.query(on: db).filter(\.$ownerID == projectAccount.ownerID).all()
        guard let target = candidates.first(where: { $0.resourceID.lowercased() == predictionID.lowercased() }) else {
            throw CVError.badRequest("BadRequestInvalidPublishTarget", "predictionId must be the resource id of one of your prediction resources.")
        }
        try await db.writeTransaction { tx in
            if let other = try await Iteration.query(on: tx).filter(\.$projectID == project.id!).filter(\.$publishName == name)
                .filter(\.$id != it.id!).first() {
                guard overwrite else {
                    throw CVError.badRequest("BadRequestInvalidPublishName", "'\(name)' is already published from \(other.name); pass overwrite=true to replace it.")
                }
                other.publishName = nil; other.predictionAccountID = nil; other.predictionResourceID = nil
                try await other.save(on: tx)
            }
            it.publishName = name
            it.predictionAccountID = target.id
            it.predictionResourceID = target.resourceID
            try await it.save(on: tx)
        }
    }

    func unpublish(_ it: Iteration) async throws {
        defer { PublishedModels.shared.invalidateAll() }
        guard it.publishName != nil else {
            throw CVError.badRequest("BadRequestIterationNotPublished", "The iteration is not published.")
        }
        it.publishName = nil; it.predictionAccountID = nil; it.predictionResourceID = nil
        try await it.save(on: db)
    }

    /// A detection iteration's held-out report; nil for a classifier.
    func detectionReport(_ it: Iteration) throws -> DetectionReport? {
        guard it.status == "Completed", let json = it.metricsJSON else {
            throw CVError.badRequest("BadRequestIterationIsNotTrained", "The iteration has not finished training.")
        }
        return try? JSONDecoder().decode(DetectionReport.self, from: Data(json.utf8))
    }

    func performance(_ it: Iteration, threshold: Float) throws -> (PerformanceReport, PerformanceReport.Summary) {
        guard it.status == "Completed", let json = it.metricsJSON,
              let report = try? JSONDecoder().decode(PerformanceReport.self, from: Data(json.utf8)) else {
            throw CVError.badRequest("BadRequestIterationIsNotTrained", "The iteration has not finished training.")
        }
        return (report, report.summary(threshold: threshold))
    }
}
