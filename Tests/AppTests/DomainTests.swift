@testable import App
import Fluent
import Foundation
import VisionEngine
import XCTVapor

/// What a domain says is what runs: every domain of Azure's lists, each describing the
/// backbone it runs; a General [A1] project trains and predicts on Lite1 at 240.
final class DomainTests: XCTestCase {
    /// The 2020 recording's 14 domains and the 4 documented later, by Azure's ids.
    static let azureIDs: Set<String> = [
        "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31", "c151d5b5-dd07-472a-acc8-15d29dea8518", "ca455789-012d-4b50-9fec-5bb63841c793",
        "b30a91ae-e3c1-4f73-a81e-c270bff27c39", "45badf75-3591-4f26-a705-45678d3e9f5f", "0732100f-1a38-4e49-a514-c9b44c697ab5",
        "8882951b-82cd-4c32-970b-d5f8cb8bf6d7", "b5cfd229-2ac7-4b2b-8d0a-2b0661344894", "6b4faeda-8396-481b-9f8b-177b9fa3097f",
        "da2e3a8a-40a5-4171-82f4-58522f70fbc1", "1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4", "3780a898-81c3-4516-81ae-3a139614e1f3",
        "a27d5ca5-bb19-49d8-a70a-fec086c47f5b", "7ec2ac80-887b-48a6-8df9-8b1357765430",
        "a8e3c40f-fb4a-466f-832a-5e457ae4a344", "2e37d7fb-3a54-486a-b4d6-cfc369af0018", "a1db07ca-a19a-4830-bae8-e004a42dc863",
        "9c616dff-2e7d-ea11-af59-1866da359ce6",
    ]

    func testEveryAzureDomainIsOfferedAndSaysWhatRuns() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "dom@example.com", tier: "S0"))
        let domains = try await app.training(.GET, "domains", key: key).array
        XCTAssertEqual(Set(domains.compactMap { $0["id"] as? String }), Self.azureIDs)
        XCTAssertEqual(domains.count, 18)
        for d in domains {
            let info = try XCTUnwrap(d["modelInformation"] as? [String: Any], "\(d)")
            let text = info["description"] as? String ?? ""
            let domain = app.domainCatalog.domain(UUID(uuidString: d["id"] as! String)!)!
            let backbone = domain.backbone == "efficientnet-lite1" ? "EfficientNet-Lite1" : "EfficientNet-Lite0"
            XCTAssertTrue(text.contains(backbone) && text.contains("\(domain.inputSize)×\(domain.inputSize)"), "\(d["name"]!): \(text)")
            XCTAssertEqual(d["exportable"] as? Bool, (d["name"] as! String).contains("(compact)"), "\(d["name"]!)")
            // A specialised domain says plainly that it runs the general model.
            if ["Food", "Landmarks", "Retail", "Logo", "Products on Shelves"].contains(where: { (d["name"] as! String).hasPrefix($0) }) {
                XCTAssertTrue(text.contains("maps"), text)
            }
        }
        for (name, type) in [("Food (compact)", "Classification"), ("Logo", "ObjectDetection"),
                             ("General (compact) [S1]", "Classification"), ("General (compact) [S1]", "ObjectDetection")] {
            XCTAssertTrue(domains.contains { $0["name"] as? String == name && $0["type"] as? String == type }, name)
        }
        XCTAssertEqual(app.domainCatalog.domain(UUID(uuidString: "a8e3c40f-fb4a-466f-832a-5e457ae4a344")!)?.variant, .lite1)
        try await app.asyncShutdown()

        // A catalogue naming a backbone the engine lacks, or Lite1 at Lite0's size, is refused at start-up.
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("domains-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: bad) }
        for (backbone, size, expected) in [("resnet-50", 224, "unknown backbone"), ("efficientnet-lite1", 224, "240")] {
            try Data("""
            [{"id": "a8e3c40f-fb4a-466f-832a-5e457ae4a344", "name": "General [A1]", "type": "Classification",
              "backbone": "\(backbone)", "inputSize": \(size), "exportablePlatforms": [], "modelInformation": null}]
            """.utf8).write(to: bad)
            XCTAssertThrowsError(try DomainCatalog.load(from: bad.path)) { XCTAssertTrue("\($0)".contains(expected), "\($0)") }
        }
    }

    func testGeneralA1TrainsAndPredictsOnLite1() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "a1@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=a1&classificationType=Multiclass", key: key).object["id"] as! String
        for (name, images) in [("colour", try distinctImages(6)), ("grey", try greyImages(6))] {
            let t = try await app.training(.POST, "projects/\(project)/tags?name=\(name)", key: key).object["id"] as! String
            _ = try await app.upload(project, key: key, images, tagIds: [t])
        }
        func train() async throws -> Iteration {
            let started = try await app.training(.POST, "projects/\(project)/train?forceTrain=true", key: key)
            let id = try XCTUnwrap(started.object["id"] as? String, started.body)
            let status = try await app.trainedStatus(project: project, iteration: id, key: key)
            XCTAssertEqual(status, "Completed")
            return try await Iteration.find(UUID(uuidString: id)!, on: app.db)!
        }
        func head(_ it: Iteration) async throws -> ClassifierHead { try ClassifierHead.deserialise(try await app.blobStore.read(it.modelHash!)) }

        let general = try await train()
        let generalHead = try await head(general)
        XCTAssertEqual(generalHead.backbone, "efficientnet-lite0")
        // Changing the domain applies to the next training, as on Azure.
        let changed = try await app.training(.PATCH, "projects/\(project)", key: key,
                                             body: #"{"settings": {"domainId": "a8e3c40f-fb4a-466f-832a-5e457ae4a344"}}"#)
        XCTAssertEqual(changed.status, .ok, changed.body)
        let a1 = try await train()
        XCTAssertEqual(a1.domainID.uuidString.lowercased(), "a8e3c40f-fb4a-466f-832a-5e457ae4a344")
        let lite1 = try await head(a1)
        XCTAssertEqual(lite1.backbone, "efficientnet-lite1")
        XCTAssertEqual(lite1.inputSize, 240)
        let _v1 = try await StoredFeature.query(on: app.db).filter(\.$backbone == "efficientnet-lite1").count()
        XCTAssertGreaterThan(_v1, 0, "Lite1 features were computed and cached")
        let perf = try await app.training(.GET, "projects/\(project)/iterations/\(a1.id!.uuidString)/performance", key: key)
        XCTAssertGreaterThan(perf.object["averagePrecision"] as? Double ?? 0, 0.9, perf.body)

        // A quick test runs Lite1 and agrees with the engine run directly.
        let image = try distinctImages(1, from: 30)[0]
        let res = try await app.testable().sendRequest(.POST, "/customvision/v3.4-preview/training/projects/\(project)/quicktest/image?iterationId=\(a1.id!.uuidString)",
                                                       headers: ["Training-Key": key, "Content-Type": "application/octet-stream"],
                                                       body: ByteBuffer(data: image))
        XCTAssertEqual(res.status, .ok, res.body.string)
        let served = try JSONSerialization.jsonObject(with: Data(buffer: res.body)) as! [String: Any]
        let top = (served["predictions"] as! [[String: Any]])[0]
        let model = try app.engine.backbone(.lite1)
        let x = try Preprocessor.input(encoded: image, size: 240, view: .plain(lite1.framing))
        let direct = zip(lite1.tagIDs, lite1.probabilities(model.features(Tensor(n: 1, h: 240, w: 240, c: 3, data: x)))).max { $0.1 < $1.1 }!
        XCTAssertEqual(top["tagId"] as? String, direct.0)
        XCTAssertEqual(top["probability"] as? Double ?? -1, Double(direct.1), accuracy: 1e-5)
        try await app.asyncShutdown()
    }
}
