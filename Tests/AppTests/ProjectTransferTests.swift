@testable import App
import Fluent
import Foundation
import XCTVapor

/// `export_project` → `import_project`: an exact copy into another account, under that
/// account's quotas, by a job; tokens that are wrong, tampered with or expired are refused.
final class ProjectTransferTests: XCTestCase {
    private func created(_ r: APIResponse) -> [String] {
        (r.object["images"] as! [[String: Any]]).map { ($0["image"] as! [String: Any])["id"] as! String }
    }

    private func waitForImport(_ app: Application, _ project: String, key: String) async throws -> String {
        var status = "Importing"
        for _ in 0..<300 where status == "Importing" {
            try await Task.sleep(nanoseconds: 100_000_000)
            status = try await app.training(.GET, "projects/\(project)", key: key).object["status"] as? String ?? "?"
        }
        return status
    }

    /// Everything an image carries, keyed by content (the copy's ids are new).
    private func contents(_ app: Application, _ project: String, key: String) async throws -> [String: String] {
        let tagNames = Dictionary(uniqueKeysWithValues: try await app.training(.GET, "projects/\(project)/tags", key: key).array
            .map { ($0["id"] as! String, "\($0["name"]!)/\($0["type"]!)/\($0["description"]!)") })
        var out: [String: String] = [:]
        for row in try await ImageRecord.query(on: app.db).filter(\.$projectID == UUID(uuidString: project)!).all() {
            let wire = try await app.training(.GET, "projects/\(project)/images/id?imageIds=\(row.id!.uuidString)", key: key).array[0]
            let tags = ((wire["tags"] as? [[String: Any]]) ?? []).map { tagNames[$0["tagId"] as! String]! }.sorted()
            let regions = ((wire["regions"] as? [[String: Any]]) ?? []).map { r in
                "\(tagNames[r["tagId"] as! String]!)@" + ["left", "top", "width", "height"].map { String(format: "%.7f", r[$0] as! Double) }.joined(separator: ",")
            }.sorted()
            let meta = (wire["metadata"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            out[row.originalHash] = "\(wire["width"]!)x\(wire["height"]!) \(tags) \(regions) \(meta)"
        }
        return out
    }

    func testExportThenImportCopiesEverythingIntoAnotherAccount() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "from@example.com", tier: "S0"))
        let target = try await app.makeAccount(token: token, email: "to@example.com", tier: "S0", name: "target")
        let targetKey = trainingKey(target)

        // A detection project: tags of each type, regions, metadata, several tags on an image.
        let od = try await app.training(.POST, "projects?name=boxes&description=shelf%20photos&domainId=da2e3a8a-40a5-4171-82f4-58522f70fbc1", key: key).object["id"] as! String
        let can = try await app.training(.POST, "projects/\(od)/tags?name=can&description=tins", key: key).object["id"] as! String
        let box = try await app.training(.POST, "projects/\(od)/tags?name=box", key: key).object["id"] as! String
        _ = try await app.training(.POST, "projects/\(od)/tags?name=nothing&type=Negative", key: key)
        let images = created(try await app.upload(od, key: key, try distinctImages(8)))
        var regions: [String] = []
        for (k, image) in images.enumerated() {
            regions.append(#"{"imageId":"\#(image)","tagId":"\#(can)","left":0.1234567,"top":0.2,"width":0.3,"height":0.25}"#)
            if k % 2 == 0 { regions.append(#"{"imageId":"\#(image)","tagId":"\#(box)","left":0.5,"top":0.5,"width":0.4999999,"height":0.3333333}"#) }
        }
        let added = try await app.training(.POST, "projects/\(od)/images/regions", key: key, body: #"{"regions":[\#(regions.joined(separator: ","))]}"#)
        XCTAssertEqual(added.status, .ok, added.body)
        _ = try await app.training(.POST, "projects/\(od)/images/metadata?imageIds=\(images[0]),\(images[3])", key: key, body: #"{"aisle":"7","shelf":"top"}"#)

        let export = try await app.training(.GET, "projects/\(od)/export", key: key)
        XCTAssertEqual(export.status, .ok, export.body)
        XCTAssertEqual(export.object["imageCount"] as? Int, 8)
        XCTAssertEqual(export.object["tagCount"] as? Int, 3)
        XCTAssertEqual(export.object["regionCount"] as? Int, 12)
        XCTAssertEqual(export.object["iterationCount"] as? Int, 0)
        XCTAssertGreaterThan(export.object["estimatedImportTimeInMS"] as? Int ?? 0, 0)
        let exportToken = try XCTUnwrap(export.object["token"] as? String)

        let imported = try await app.training(.POST, "projects/import?token=\(urlEncode(exportToken))&name=moved", key: targetKey)
        XCTAssertEqual(imported.status, .ok, imported.body)
        XCTAssertEqual(imported.object["status"] as? String, "Importing")
        XCTAssertEqual(imported.object["name"] as? String, "moved")
        let copy = imported.object["id"] as! String
        let _v1 = try await waitForImport(app, copy, key: targetKey)
        XCTAssertEqual(_v1, "Succeeded")
        let project = try await app.training(.GET, "projects/\(copy)", key: targetKey).object
        XCTAssertEqual(project["description"] as? String, "shelf photos")
        XCTAssertEqual((project["settings"] as? [String: Any])?["domainId"] as? String, "da2e3a8a-40a5-4171-82f4-58522f70fbc1")
        let source = try await contents(app, od, key: key)
        let _v2 = try await contents(app, copy, key: targetKey)
        XCTAssertEqual(_v2, source, "the same images, tags, regions (to 1e-7) and metadata")
        XCTAssertEqual(source.count, 8)
        // Blobs are shared: the copy added no file to the store.
        let hashes = try await ImageRecord.query(on: app.db).all().map(\.originalHash)
        XCTAssertEqual(Set(hashes).count, 8)
        XCTAssertEqual(hashes.count, 16)
        // The copy counts against the target's quotas; the source's account still holds its own project only.
        let usage = try await QuotaLedger.used(.imagesPerProject, account: try await Account.find(UUID(uuidString: target["id"] as! String)!, on: app.db)!,
                                               project: UUID(uuidString: copy)!, on: app.db)
        XCTAssertEqual(usage, 8)
        let _v3 = try await app.training(.GET, "projects", key: key).array.count
        XCTAssertEqual(_v3, 1)
        try await app.asyncShutdown()
    }

    func testImportedClassifierTrainsAndQuotasAndTokensAreChecked() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "cls@example.com", tier: "S0"))
        let small = try await app.makeAccount(token: token, email: "small@example.com", tier: "S0", name: "small")
        let smallKey = trainingKey(small)
        let project = try await app.training(.POST, "projects?name=cls&classificationType=Multilabel", key: key).object["id"] as! String
        let colour = try await app.training(.POST, "projects/\(project)/tags?name=colour", key: key).object["id"] as! String
        let grey = try await app.training(.POST, "projects/\(project)/tags?name=grey", key: key).object["id"] as! String
        _ = try await app.upload(project, key: key, try distinctImages(6), tagIds: [colour])
        _ = try await app.upload(project, key: key, try greyImages(6), tagIds: [grey])
        let exportToken = try await app.training(.GET, "projects/\(project)/export", key: key).object["token"] as! String
        // Made after the export: the token does not copy them (it is a snapshot, not a live grant).
        let late = try await app.training(.POST, "projects/\(project)/tags?name=late", key: key).object["id"] as! String
        _ = try await app.upload(project, key: key, try distinctImages(2, from: 60), tagIds: [late])

        // Over the target's image limit: refused before anything is made.
        _ = try await app.admin(.PUT, "accounts/\(small["id"] as! String)/overrides", token: token, body: #"{"imagesPerProject":10}"#)
        let refused = try await app.training(.POST, "projects/import?token=\(urlEncode(exportToken))", key: smallKey)
        XCTAssertEqual(refused.code, "BadRequestImageExceededCount", refused.body)
        XCTAssertTrue((refused.object["message"] as? String ?? "").contains("12"), refused.body)
        let _v1 = try await app.training(.GET, "projects", key: smallKey).array.count
        XCTAssertEqual(_v1, 0, "nothing was imported")
        _ = try await app.admin(.PUT, "accounts/\(small["id"] as! String)/overrides", token: token, body: #"{"imagesPerProject":null}"#)

        // Wrong, tampered, expired tokens, and a token used as a key.
        let signer = app.blobSigner
        let expired = ProjectExportToken(projectID: UUID(uuidString: project)!, expires: Date().addingTimeInterval(-1)).encoded(key: signer.key)
        let parts = exportToken.split(separator: ".").map(String.init)
        let forged = ProjectExportToken.base64url(Data(#"{"p":"\#(UUID().uuidString)","e":9999999999}"#.utf8))
        for (bad, why) in [("nonsense", "malformed"), (parts[0] + "." + forged + "." + parts[2], "tampered"),
                           (expired, "expired"), (exportToken + "x", "bad signature")] {
            let r = try await app.training(.POST, "projects/import?token=\(urlEncode(bad))", key: smallKey)
            XCTAssertEqual(r.status, .badRequest, why)
            XCTAssertEqual(r.code, "BadRequestInvalidImportToken", "\(why): \(r.body)")
        }
        let _v2 = try await app.training(.POST, "projects/import", key: smallKey).code
        XCTAssertEqual(_v2, "BadRequestRequiredParamIsNull")
        let _v3 = try await app.training(.GET, "projects/\(project)", key: exportToken).status
        XCTAssertEqual(_v3, .unauthorized, "a token is no key")

        let imported = try await app.training(.POST, "projects/import?token=\(urlEncode(exportToken))", key: smallKey)
        let copy = try XCTUnwrap(imported.object["id"] as? String, imported.body)
        XCTAssertEqual(imported.object["name"] as? String, "cls", "the source's name when none is given")
        let _v4 = try await waitForImport(app, copy, key: smallKey)
        XCTAssertEqual(_v4, "Succeeded")
        let copied = try await app.training(.GET, "projects/\(copy)/images/count", key: smallKey).body
        XCTAssertEqual(copied, "12", "the images of the export, not those added since")
        let copiedTags = try await app.training(.GET, "projects/\(copy)/tags", key: smallKey).array.compactMap { $0["name"] as? String }
        XCTAssertEqual(Set(copiedTags), ["colour", "grey"])
        let started = try await app.training(.POST, "projects/\(copy)/train", key: smallKey)
        let iteration = try XCTUnwrap(started.object["id"] as? String, started.body)
        let _status = try await app.trainedStatus(project: copy, iteration: iteration, key: smallKey)
        XCTAssertEqual(_status, "Completed")

        // A token for a deleted project names nothing.
        let _v5 = try await app.training(.DELETE, "projects/\(project)", key: key).status
        XCTAssertEqual(_v5, .noContent)
        let gone = try await app.training(.POST, "projects/import?token=\(urlEncode(exportToken))", key: smallKey)
        XCTAssertEqual(gone.code, "BadRequestInvalidImportToken", gone.body)
        try await app.asyncShutdown()
    }
}
