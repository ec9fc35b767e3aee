@testable import App
import XCTVapor

/// Object detection through the API without training a model (the interop checks train
/// real ones): Custom Vision's validation, the tier flag, route and domain mismatches,
/// and region proposals before any training.
final class DetectionAPITests: XCTestCase {
    let general = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"

    /// The shipped detection domains all use 416 (13×13; the README says why General does
    /// not take 608); a catalogue with an input the grid cannot divide is refused at start-up.
    func testDetectionDomainInputs() async throws {
        let app = try await makeApp()
        let detection = app.domainCatalog.domains.filter(\.isObjectDetection)
        XCTAssertEqual(detection.count, 6)
        XCTAssertEqual(Set(detection.map(\.inputSize)), [416])
        try await app.asyncShutdown()
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("domains-\(UUID()).json")
        try Data("""
        [{"id": "da2e3a8a-40a5-4171-82f4-58522f70fbc1", "name": "General", "type": "ObjectDetection",
          "backbone": "efficientnet-lite0", "inputSize": 500, "exportablePlatforms": [], "modelInformation": null}]
        """.utf8).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        XCTAssertThrowsError(try DomainCatalog.load(from: bad.path)) {
            XCTAssertTrue("\($0)".contains("multiple of 32"), "\($0)")
        }
        // Exports are the compact 416 format: an exportable detection domain must take 416.
        try Data("""
        [{"id": "a27d5ca5-bb19-49d8-a70a-fec086c47f5b", "name": "General (compact)", "type": "ObjectDetection",
          "backbone": "efficientnet-lite0", "inputSize": 608, "exportablePlatforms": ["ONNX"], "modelInformation": null}]
        """.utf8).write(to: bad)
        XCTAssertThrowsError(try DomainCatalog.load(from: bad.path)) {
            XCTAssertTrue("\($0)".contains("416"), "\($0)")
        }
    }

    func testValidationTierFlagAndMismatchedRoutes() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "od@example.com", tier: "S0")
        let key = trainingKey(acct)
        let project = try await app.training(.POST, "projects?name=od&domainId=\(general)", key: key).object["id"] as! String
        let fork = try await app.training(.POST, "projects/\(project)/tags?name=fork", key: key).object["id"] as! String
        let spoon = try await app.training(.POST, "projects/\(project)/tags?name=spoon", key: key).object["id"] as! String

        // No regions at all: tagged images do not count for detection.
        let tagged = try await app.upload(project, key: key, try distinctImages(3), tagIds: [fork])
        XCTAssertEqual(tagged.status, .ok, tagged.body)
        let none = try await app.training(.POST, "projects/\(project)/train", key: key)
        XCTAssertEqual(none.code, "BadRequestDetectionTrainingValidationFailed", none.body)

        // 15 images with fork boxes, 4 with spoon boxes: spoon is short of Custom Vision's 15.
        let images = try distinctImages(19, from: 10)
        let entries: [[String: Any]] = images.enumerated().map { i, data in
            ["name": "i\(i)", "contents": data.base64EncodedString(),
             "regions": [["tagId": i < 15 ? fork : spoon, "left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4]]]
        }
        let up = try await app.uploadFiles(project, key: key, entries)
        XCTAssertEqual(up.status, .ok, up.body)
        let thin = try await app.training(.POST, "projects/\(project)/train", key: key)
        XCTAssertEqual(thin.code, "BadRequestDetectionTrainingValidationFailed", thin.body)
        XCTAssertTrue((thin.object["message"] as? String)?.contains("spoon") == true, thin.body)
        XCTAssertTrue((thin.object["message"] as? String)?.contains("15") == true, thin.body)
        // Training only the fork tag passes validation; the tier flag off refuses it first.
        let off = try await app.admin(.PUT, "accounts/\(acct["id"] as! String)/overrides", token: token, body: #"{"objectDetection": false}"#)
        XCTAssertEqual(off.status, .ok, off.body)
        let refused = try await app.training(.POST, "projects/\(project)/train", key: key, body: #"{"selectedTags": ["\#(fork)"]}"#)
        XCTAssertEqual(refused.code, "BadRequestNotSupported", refused.body)
        let on = try await app.admin(.PUT, "accounts/\(acct["id"] as! String)/overrides", token: token, body: #"{"objectDetection": null}"#)
        XCTAssertEqual(on.status, .ok, on.body)

        // Region proposals before any training: none; on a classifier project: not supported.
        let imageID = ((up.object["images"] as! [[String: Any]])[0]["image"] as! [String: Any])["id"] as! String
        let proposals = try await app.training(.POST, "projects/\(project)/images/\(imageID)/regionproposals", key: key)
        XCTAssertEqual(proposals.status, .ok, proposals.body)
        XCTAssertEqual((proposals.object["proposals"] as? [Any])?.count, 0)
        XCTAssertEqual(proposals.object["imageId"] as? String, imageID)
        let missing = try await app.training(.POST, "projects/\(project)/images/\(UUID().uuidString)/regionproposals", key: key)
        XCTAssertEqual(missing.code, "NotFoundImage")
        let classifier = try await app.training(.POST, "projects?name=c", key: key).object["id"] as! String
        let wrong = try await app.training(.POST, "projects/\(classifier)/images/\(imageID)/regionproposals", key: key)
        XCTAssertEqual(wrong.code, "BadRequestNotSupported")
        try await app.asyncShutdown()
    }
}
