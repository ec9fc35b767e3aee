@testable import App
import Fluent
import VisionEngine
import XCTVapor

/// Grey images (a second, visually different class).
func greyImages(_ n: Int) throws -> [Data] {
    let base = try imageFixture("gray16.png")
    return try (0..<n).map { k in try ImageDecoder.jpegVariant(base, maxSide: 12 + k, quality: 60).jpeg }
}

final class TrainingTests: XCTestCase {
    struct Fixture {
        let app: Application, token: String, key: String, predictionKey: String, resourceID: String
        let project: String, tags: [String]
    }

    private func fixture(perTag: Int = 6) async throws -> Fixture {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "train@example.com", tier: "S0")
        let key = trainingKey(acct)
        let project = try await app.training(.POST, "projects?name=t&classificationType=Multiclass", key: key).object["id"] as! String
        let a = try await app.training(.POST, "projects/\(project)/tags?name=colour", key: key).object["id"] as! String
        let b = try await app.training(.POST, "projects/\(project)/tags?name=grey", key: key).object["id"] as! String
        let _v1 = try await app.upload(project, key: key, try distinctImages(perTag), tagIds: [a]).status
        XCTAssertEqual(_v1, .ok)
        let _v2 = try await app.upload(project, key: key, try greyImages(perTag), tagIds: [b]).status
        XCTAssertEqual(_v2, .ok)
        return Fixture(app: app, token: token, key: key, predictionKey: predictionKey(acct), resourceID: acct["resourceId"] as! String,
                       project: project, tags: [a, b])
    }

    private func waitForTraining(_ f: Fixture, _ iteration: String) async throws -> [String: Any] {
        for _ in 0..<600 {
            let it = try await f.app.training(.GET, "projects/\(f.project)/iterations/\(iteration)", key: f.key).object
            if it["status"] as? String != "Training" { return it }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTFail("still training")
        return [:]
    }

    func testValidationTrainPublishPredictAndUnpublish() async throws {
        let f = try await fixture()
        let app = f.app
        // Too few images on a tag.
        let thin = try await app.training(.POST, "projects/\(f.project)/tags?name=thin", key: f.key).object["id"] as! String
        _ = try await app.upload(f.project, key: f.key, try distinctImages(2, from: 60), tagIds: [thin])
        let refused = try await app.training(.POST, "projects/\(f.project)/train", key: f.key)
        XCTAssertEqual(refused.code, "BadRequestMultiClassClassificationTrainingValidationFailed", refused.body)
        XCTAssertTrue((refused.object["message"] as? String)?.contains("thin") == true)
        let _v3 = try await app.training(.DELETE, "projects/\(f.project)/tags/\(thin)", key: f.key).status
        XCTAssertEqual(_v3, .noContent)

        // Advanced training reserves whole hours: 0 (the SDK's default), negative or over a
        // week is refused, and nothing starts.
        for budget in ["0", "-1", "169", "1.5"] {
            let advanced = try await app.training(.POST, "projects/\(f.project)/train?trainingType=Advanced&reservedBudgetInHours=\(budget)", key: f.key)
            XCTAssertEqual(advanced.code, "BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining", "\(budget): \(advanced.body)")
        }
        let none = try await app.training(.GET, "projects/\(f.project)/iterations", key: f.key).array
        XCTAssertTrue(none.isEmpty, "refused budgets start no iteration")

        let started = try await app.training(.POST, "projects/\(f.project)/train?reservedBudgetInHours=0&forceTrain=false", key: f.key)
        XCTAssertEqual(started.object["status"] as? String, "Training", started.body)
        XCTAssertNil(started.object["trainedAt"], "absent, not null, until training completes (as Azure)")
        // Keys Azure sends as null while training: present, null (raw REST code indexes them).
        for key in ["exportableTo", "domainId", "classificationType", "publishName", "originalPublishResourceId",
                    "trainingErrorDetails", "customBaseModelInfo"] {
            XCTAssertTrue(started.object[key] is NSNull, "\(key): \(started.body)")
        }
        let id = started.object["id"] as! String
        let busy = try await app.training(.POST, "projects/\(f.project)/train?forceTrain=true", key: f.key)
        XCTAssertEqual(busy.code, "BadRequestTrainingAlreadyInProgress")
        let done = try await waitForTraining(f, id)
        XCTAssertEqual(done["status"] as? String, "Completed", "\(done)")
        XCTAssertEqual(done["name"] as? String, "Iteration 1")
        XCTAssertNotNil(done["trainedAt"])
        let _v4 = try await app.training(.POST, "projects/\(f.project)/train", key: f.key).code
        XCTAssertEqual(_v4, "BadRequestTrainingNotNeeded")

        let perf = try await app.training(.GET, "projects/\(f.project)/iterations/\(id)/performance?threshold=0.5", key: f.key)
        XCTAssertEqual((perf.object["perTagPerformance"] as? [[String: Any]])?.count, 2, perf.body)
        XCTAssertGreaterThan(perf.object["averagePrecision"] as? Double ?? 0, 0.9)
        let strict = try await app.training(.GET, "projects/\(f.project)/iterations/\(id)/performance?threshold=0.999", key: f.key)
        XCTAssertLessThanOrEqual(strict.object["recall"] as! Double, perf.object["recall"] as! Double)

        // Publishing: the target must be the owner's prediction resource.
        let other = try await app.makeAccount(token: f.token, email: "stranger@example.com", tier: "S0", name: "stranger")
        let bad = "projects/\(f.project)/iterations/\(id)/publish?publishName=m&predictionId=\(urlEncode(other["resourceId"] as! String))"
        let _v5 = try await app.training(.POST, bad, key: f.key).code
        XCTAssertEqual(_v5, "BadRequestInvalidPublishTarget")
        let good = "projects/\(f.project)/iterations/\(id)/publish?publishName=classifyModel&predictionId=\(urlEncode(f.resourceID))"
        let published = try await app.training(.POST, good, key: f.key)
        XCTAssertEqual(published.body, "true")
        XCTAssertEqual(published.headers.first(name: .contentType), "application/json; charset=utf-8")

        // Predict with the target account's prediction key.
        let path = "/customvision/v3.1/prediction/\(f.project)/classify/iterations/classifyModel/image"
        func predict(_ data: Data, key: String, nostore: Bool = false) async throws -> APIResponse {
            let res = try await app.testable().sendRequest(.POST, path + (nostore ? "/nostore" : ""),
                                                           headers: ["Prediction-Key": key, "Content-Type": "application/octet-stream"],
                                                           body: ByteBuffer(data: data))
            return APIResponse(status: res.status, headers: res.headers, body: res.body.string)
        }
        let colour = try await predict(try distinctImages(1, from: 30)[0], key: f.predictionKey)
        XCTAssertEqual(colour.status, .ok, colour.body)
        let top = (colour.object["predictions"] as! [[String: Any]])[0]
        XCTAssertEqual(top["tagName"] as? String, "colour")
        XCTAssertEqual(top["tagType"] as? String, "Regular")
        XCTAssertTrue(top["boundingBox"] is NSNull, "a classifier's prediction has boundingBox null: \(colour.body)")
        let _v6 = try await StoredPrediction.query(on: app.db).count()
        XCTAssertEqual(_v6, 1)
        let grey = try await predict(try greyImages(1)[0], key: f.predictionKey, nostore: true)
        XCTAssertEqual((grey.object["predictions"] as! [[String: Any]])[0]["tagName"] as? String, "grey")
        let _v7 = try await StoredPrediction.query(on: app.db).count()
        XCTAssertEqual(_v7, 1, "nostore stores nothing")
        // A renamed tag is named so in the very next prediction (the published-model cache is cleared).
        _ = try await app.training(.PATCH, "projects/\(f.project)/tags/\(f.tags[1])", key: f.key, body: #"{"name":"gray"}"#)
        let gray = try await predict(try greyImages(1)[0], key: f.predictionKey, nostore: true)
        XCTAssertEqual((gray.object["predictions"] as! [[String: Any]])[0]["tagName"] as? String, "gray")
        // Wrong account, wrong name, bad images, month quota: right codes, nothing stored.
        let _v8 = try await predict(try greyImages(1)[0], key: predictionKey(other)).code
        XCTAssertEqual(_v8, "NotFoundIteration")
        let _v9 = try await predict(try greyImages(1)[0], key: f.key).status
        XCTAssertEqual(_v9, .unauthorized)
        var big = try imageFixture("landscape.jpg")
        big.append(Data(count: 5 * 1024 * 1024))
        let _v10 = try await predict(big, key: f.predictionKey).code
        XCTAssertEqual(_v10, "BadRequestImageSizeBytes")
        let _v11 = try await predict(try imageFixture("truncated.jpg"), key: f.predictionKey).code
        XCTAssertEqual(_v11, "BadRequestImageFormat")
        let _v12 = try await predict(Data("<svg/>".utf8), key: f.predictionKey).code
        XCTAssertEqual(_v12, "BadRequestImageFormat")
        let acctID = try await Account.query(on: app.db).filter(\.$name == "acct").first()!.id!.uuidString.lowercased()
        _ = try await app.admin(.PUT, "accounts/\(acctID)/overrides", token: f.token, body: #"{"predictionsPerMonth": 2}"#)
        let _v13 = try await predict(try greyImages(1)[0], key: f.predictionKey).code
        XCTAssertEqual(_v13, "BadRequestExceededQuota")
        let _v14 = try await StoredPrediction.query(on: app.db).count()
        XCTAssertEqual(_v14, 1)

        // Published iterations block deletion; unpublish first.
        let _v15 = try await app.training(.DELETE, "projects/\(f.project)", key: f.key).code
        XCTAssertEqual(_v15, "BadRequestIterationIsPublished")
        let _v16 = try await app.training(.DELETE, "projects/\(f.project)/iterations/\(id)", key: f.key).code
        XCTAssertEqual(_v16, "BadRequestIterationIsPublished")
        let _v17 = try await app.training(.DELETE, "projects/\(f.project)/iterations/\(id)/publish", key: f.key).status
        XCTAssertEqual(_v17, .noContent)
        let _v18 = try await app.training(.DELETE, "projects/\(f.project)/iterations/\(id)/publish", key: f.key).code
        XCTAssertEqual(_v18, "BadRequestIterationNotPublished")
        let _v19 = try await predict(try greyImages(1)[0], key: f.predictionKey).code
        XCTAssertEqual(_v19, "NotFoundIteration")
        let renamed = try await app.training(.PATCH, "projects/\(f.project)/iterations/\(id)", key: f.key, body: #"{"name":"first"}"#)
        XCTAssertEqual(renamed.object["name"] as? String, "first")
        let _v20 = try await app.training(.GET, "projects/\(f.project)/iterations", key: f.key).array.count
        XCTAssertEqual(_v20, 1)
        let _v21 = try await app.training(.DELETE, "projects/\(f.project)", key: f.key).status
        XCTAssertEqual(_v21, .noContent)
        try await app.asyncShutdown()
    }

    func testIterationQuotaAndSingleTagRefusal() async throws {
        let f = try await fixture()
        let app = f.app
        let acctID = try await Account.query(on: app.db).first()!.id!.uuidString.lowercased()
        _ = try await app.admin(.PUT, "accounts/\(acctID)/overrides", token: f.token, body: #"{"iterationsPerProject": 1}"#)
        let first = try await app.training(.POST, "projects/\(f.project)/train", key: f.key)
        _ = try await waitForTraining(f, first.object["id"] as! String)
        let second = try await app.training(.POST, "projects/\(f.project)/train?forceTrain=true", key: f.key)
        XCTAssertEqual(second.code, "BadRequestExceedIterationPerProjectLimit", second.body)
        // One tag only.
        let solo = try await app.training(.POST, "projects?name=solo", key: f.key).object["id"] as! String
        let t = try await app.training(.POST, "projects/\(solo)/tags?name=only", key: f.key).object["id"] as! String
        _ = try await app.upload(solo, key: f.key, try distinctImages(6, from: 70), tagIds: [t])
        let _v22 = try await app.training(.POST, "projects/\(solo)/train", key: f.key).code
        XCTAssertEqual(_v22,
                       "BadRequestMultiLabelClassificationTrainingValidationFailed")
        let _v23 = try await app.training(.POST, "projects/\(solo)/train?trainingType=Sideways", key: f.key).code
        XCTAssertEqual(_v23, "BadRequest")
        try await app.asyncShutdown()
    }
    /// Advanced: the last stage fine-tuned after the probe, the recipe in the metrics, and
    /// predictions run on the iteration's own tail.
    func testAdvancedTrainingFineTunesTheLastStageAndPredictsWithIt() async throws {
        let f = try await fixture()
        let app = f.app
        let started = try await app.training(.POST, "projects/\(f.project)/train?trainingType=Advanced&reservedBudgetInHours=1", key: f.key)
        XCTAssertEqual(started.object["trainingType"] as? String, "Advanced", started.body)
        let id = started.object["id"] as! String
        let done = try await waitForTraining(f, id)
        XCTAssertEqual(done["status"] as? String, "Completed", "\(done)")
        XCTAssertEqual(done["reservedBudgetInHours"] as? Int, 1)
        let it = try await Iteration.find(UUID(uuidString: id), on: app.db)!
        let report = try JSONDecoder().decode(PerformanceReport.self, from: Data(it.metricsJSON!.utf8))
        let tuning = try XCTUnwrap(report.fineTune, "the metrics record the fine-tuning run")
        XCTAssertGreaterThan(tuning.heldOutImages, 0)
        // Two visually distinct tags: the held-out loss improves within the first epochs.
        XCTAssertGreaterThan(tuning.epochs, 0, "\(tuning)")
        XCTAssertTrue(report.recipe?.hasPrefix("fine-tuned last stage") == true, report.recipe ?? "no recipe")
        let head = try ClassifierHead.deserialise(try await app.blobStore.read(it.modelHash!))
        let tail = try XCTUnwrap(head.tail, "a fine-tuned iteration stores its tail")

        // The quick test answers what the iteration's own network computes.
        let image = try distinctImages(1, from: 30)[0]
        let res = try await app.testable().sendRequest(.POST, "/customvision/v3.4-preview/training/projects/\(f.project)/quicktest/image?iterationId=\(id)",
                                                       headers: ["Training-Key": f.key, "Content-Type": "application/octet-stream"],
                                                       body: ByteBuffer(data: image))
        XCTAssertEqual(res.status, .ok, res.body.string)
        let served = try JSONSerialization.jsonObject(with: Data(buffer: res.body)) as! [String: Any]
        let probability = Dictionary(uniqueKeysWithValues: (served["predictions"] as! [[String: Any]]).map { ($0["tagId"] as! String, $0["probability"] as! Double) })
        let shared = try app.engine.backbone(.lite0)
        let x = Tensor(n: 1, h: 224, w: 224, c: 3, data: try Preprocessor.input(encoded: image, size: 224, view: .plain(head.framing)))
        let direct = head.probabilities(try shared.tuned(for: head).features(x))
        for (t, p) in zip(head.tagIDs, direct) { XCTAssertEqual(probability[t] ?? -1, Double(p), accuracy: 1e-5) }

        // The stored tail is the whole trainable tail, and predictions depend on it.
        XCTAssertEqual(tail.count, shared.trainableTail().parameters.count)
        let frozen = head.probabilities(shared.features(x))
        XCTAssertGreaterThan(zip(frozen, direct).map { abs($0 - $1) }.max()!, 1e-6, "predictions use the fine-tuned tail")
        try await app.asyncShutdown()
    }
}

final class RetentionTests: XCTestCase {
    /// Models and stored predictions are referenced blobs; old predictions expire.
    func testSweepKeepsModelsAndRecentPredictionsAndExpiresOldOnes() async throws {
        let app = try await makeApp()
        let project = Project()
        project.accountID = try await {
            let token = try await app.makeAdmin()
            return UUID(uuidString: try await app.makeAccount(token: token, email: "r@example.com", tier: "S0")["id"] as! String)!
        }()
        project.name = "p"; project.description = ""; project.domainID = DomainCatalog.generalClassification
        project.projectType = "Classification"; project.classificationType = "Multiclass"
        project.targetExportPlatforms = []; project.settingsJSON = "{}"; project.status = "Succeeded"
        try await project.create(on: app.db)
        let model = try await app.blobStore.put(Data("a model".utf8))
        let it = Iteration()
        it.projectID = project.id!; it.number = 1; it.name = "Iteration 1"; it.status = "Completed"; it.trainingType = "Regular"
        it.budgetHours = 0; it.domainID = project.domainID; it.fingerprint = "x"; it.progress = 100; it.modelHash = model; it.isDefault = false
        try await it.create(on: app.db)
        func prediction(_ bytes: String, age: TimeInterval) async throws -> String {
            let p = StoredPrediction()
            p.projectID = project.id!; p.iterationID = it.id!; p.blobHash = try await app.blobStore.put(Data(bytes.utf8))
            p.resultsJSON = "[]"; p.createdAt = Date().addingTimeInterval(-age)
            try await p.create(on: app.db)
            return p.blobHash
        }
        let recent = try await prediction("recent", age: 3600)
        let old = try await prediction("old", age: 31 * 24 * 3600)
        let removed = try await app.blobSweeper.sweep(grace: 0)
        XCTAssertEqual(removed, 1)
        let stored = try await (app.blobStore.exists(model), app.blobStore.exists(recent), app.blobStore.exists(old))
        XCTAssertTrue(stored.0)
        XCTAssertTrue(stored.1)
        XCTAssertFalse(stored.2)
        let left = try await StoredPrediction.query(on: app.db).count()
        XCTAssertEqual(left, 1)
        try await app.asyncShutdown()
    }
}

final class SelectedTagsTests: XCTestCase {
    func testSelectedTagsRestrictTraining() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "sel@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=sel&classificationType=Multiclass", key: key).object["id"] as! String
        var tags: [String] = []
        for (name, images) in [("colour", try distinctImages(6)), ("grey", try greyImages(6)), ("more", try distinctImages(6, from: 80))] {
            let t = try await app.training(.POST, "projects/\(project)/tags?name=\(name)", key: key).object["id"] as! String
            _ = try await app.upload(project, key: key, images, tagIds: [t])
            tags.append(t)
        }
        let one = try await app.training(.POST, "projects/\(project)/train", key: key, body: #"{"selectedTags":["\#(tags[0])"]}"#)
        XCTAssertEqual(one.code, "BadRequestMultiClassClassificationTrainingValidationFailed", one.body)
        let unknown = try await app.training(.POST, "projects/\(project)/train", key: key, body: #"{"selectedTags":["\#(UUID().uuidString)"]}"#)
        XCTAssertEqual(unknown.code, "BadRequestInvalidIds")
        let two = try await app.training(.POST, "projects/\(project)/train", key: key, body: #"{"selectedTags":["\#(tags[0])","\#(tags[1])"]}"#)
        let id = try XCTUnwrap(two.object["id"] as? String, two.body)
        var status = "Training"
        for _ in 0..<600 where status == "Training" {
            try await Task.sleep(nanoseconds: 100_000_000)
            status = try await app.training(.GET, "projects/\(project)/iterations/\(id)", key: key).object["status"] as? String ?? "?"
        }
        XCTAssertEqual(status, "Completed")
        let perf = try await app.training(.GET, "projects/\(project)/iterations/\(id)/performance", key: key)
        let names = (perf.object["perTagPerformance"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(names.map(Set.init), ["colour", "grey"])
        try await app.asyncShutdown()
    }
}

final class CancellationTests: XCTestCase {
    /// Deleting a training iteration cancels its job; the project can train again.
    func testDeletingATrainingIterationCancelsIt() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "cancel@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=c", key: key).object["id"] as! String
        for (name, images) in [("colour", try distinctImages(40)), ("grey", try greyImages(40))] {
            let t = try await app.training(.POST, "projects/\(project)/tags?name=\(name)", key: key).object["id"] as! String
            _ = try await app.upload(project, key: key, images, tagIds: [t])
        }
        let id = try await app.training(.POST, "projects/\(project)/train", key: key).object["id"] as! String
        let _v1 = try await app.training(.DELETE, "projects/\(project)/iterations/\(id)", key: key).status
        XCTAssertEqual(_v1, .noContent)
        let _v2 = try await app.training(.GET, "projects/\(project)/iterations/\(id)", key: key).code
        XCTAssertEqual(_v2, "NotFoundIteration")
        var states: [String] = []
        for _ in 0..<300 {
            states = try await Job.query(on: app.db).all().map(\.state)
            if !states.contains("running") && !states.contains("queued") { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTAssertEqual(states, ["cancelled"])
        let _v3 = try await Iteration.query(on: app.db).count()
        XCTAssertEqual(_v3, 0, "a cancelled job leaves no iteration behind")
        let again = try await app.training(.POST, "projects/\(project)/train", key: key)
        XCTAssertEqual(again.object["status"] as? String, "Training", again.body)
        try await app.asyncShutdown()
    }

}
