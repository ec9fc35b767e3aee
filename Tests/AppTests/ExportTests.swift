@testable import App
import Fluent
import Foundation
import XCTVapor
import ZIPFoundation

/// export_iteration / get_exports: validation, one export per target, and the zips' layout.
/// (onnxruntime and the bundle's service check the contents in Tests/Interop/test_export.py.)
final class ExportTests: XCTestCase {
    static let compact = "0732100f-1a38-4e49-a514-c9b44c697ab5"
    static let general = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"

    struct Trained { let app: Application; let key: String; let project: String; let iteration: String; let tagNames: [String] }

    private func trained(domain: String = compact, type: String = "Multiclass") async throws -> Trained {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "export@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=e&domainId=\(domain)&classificationType=\(type)", key: key).object["id"] as! String
        let a = try await app.training(.POST, "projects/\(project)/tags?name=colour", key: key).object["id"] as! String
        let b = try await app.training(.POST, "projects/\(project)/tags?name=grey", key: key).object["id"] as! String
        let up1 = try await app.upload(project, key: key, try distinctImages(6), tagIds: [a]).status
        let up2 = try await app.upload(project, key: key, try greyImages(6), tagIds: [b]).status
        XCTAssertEqual([up1, up2], [.ok, .ok])
        let id = try await app.training(.POST, "projects/\(project)/train", key: key).object["id"] as! String
        for _ in 0..<600 {
            let it = try await app.training(.GET, "projects/\(project)/iterations/\(id)", key: key).object
            if it["status"] as? String != "Training" { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return Trained(app: app, key: key, project: project, iteration: id, tagNames: ["colour", "grey"])
    }

    private func export(_ t: Trained, _ query: String) async throws -> APIResponse {
        try await t.app.training(.POST, "projects/\(t.project)/iterations/\(t.iteration)/export?\(query)", key: t.key)
    }

    /// `flavor` "" is a platform without flavors (the wire sends null).
    private func waitDone(_ t: Trained, platform: String, flavor: String) async throws -> [String: Any] {
        for _ in 0..<600 {
            let list = try await t.app.training(.GET, "projects/\(t.project)/iterations/\(t.iteration)/export", key: t.key).array
            if let e = list.first(where: { $0["platform"] as? String == platform && ($0["flavor"] as? String ?? "") == flavor }),
               e["status"] as? String != "Exporting" { return e }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTFail("still exporting")
        return [:]
    }

    private func download(_ t: Trained, _ uri: String) async throws -> (HTTPStatus, HTTPHeaders, Data) {
        let path = String(uri.dropFirst("http://127.0.0.1:8080".count))
        let res = try await t.app.testable().sendRequest(.GET, path)
        return (res.status, res.headers, Data(buffer: res.body))
    }

    private func entries(_ zip: Data) throws -> [String: Data] {
        let archive = try Archive(data: zip, accessMode: .read)
        var out: [String: Data] = [:]
        for entry in archive {
            var data = Data()
            _ = try archive.extract(entry) { data.append($0) }
            out[entry.path] = data
        }
        return out
    }

    func testONNXAndDockerExportsAreBuiltOnceAndDownloadable() async throws {
        let t = try await trained()
        let it = try await t.app.training(.GET, "projects/\(t.project)/iterations/\(t.iteration)", key: t.key).object
        XCTAssertEqual(it["status"] as? String, "Completed")
        XCTAssertEqual(it["exportable"] as? Bool, true)
        XCTAssertEqual(Set(it["exportableTo"] as? [String] ?? []), ["CoreML", "DockerFile", "ONNX", "OpenVino", "TensorFlow"])

        let first = try await export(t, "platform=ONNX&flavor=ONNX10")
        XCTAssertEqual(first.status, .ok, first.body)
        XCTAssertEqual(first.object["status"] as? String, "Exporting")
        XCTAssertEqual(first.object["flavor"] as? String, "ONNX10")
        XCTAssertTrue(first.object["downloadUri"] is NSNull, "null while exporting, as Azure sends it")
        // Asked again while it runs: the same export, not a second one.
        let again = try await export(t, "platform=onnx&flavor=onnx10")
        XCTAssertEqual(again.status, .ok, again.body)
        XCTAssertEqual(again.object["platform"] as? String, "ONNX")

        let done = try await waitDone(t, platform: "ONNX", flavor: "ONNX10")
        XCTAssertEqual(done["status"] as? String, "Done", "\(done)")
        let onnxCount = try await Export.query(on: t.app.db).filter(\.$platform == "ONNX").count()
        XCTAssertEqual(onnxCount, 1)
        let jobCount = try await Job.query(on: t.app.db).filter(\.$kind == "export").count()
        XCTAssertEqual(jobCount, 1)

        let (status, headers, zip) = try await download(t, done["downloadUri"] as! String)
        XCTAssertEqual(status, .ok)
        XCTAssertEqual(headers.first(name: .contentType), "application/zip")
        let files = try entries(zip)
        XCTAssertEqual(Set(files.keys), ["model.onnx", "labels.txt", "preprocess.py", "README.md"])
        XCTAssertEqual(String(decoding: files["labels.txt"]!, as: UTF8.self), t.tagNames.map { $0 + "\n" }.joined())
        // ModelProto field 1 (ir_version) = 5 for opset 10, and the weights are there.
        XCTAssertEqual(Array(files["model.onnx"]!.prefix(2)), [0x08, 0x05])
        XCTAssertGreaterThan(files["model.onnx"]!.count, 10_000_000)

        // Done: asking again returns the finished export with its link.
        let repeated = try await export(t, "platform=ONNX&flavor=ONNX10")
        XCTAssertEqual(repeated.object["status"] as? String, "Done")
        XCTAssertNotNil(repeated.object["downloadUri"] as? String)

        // A tampered link is refused.
        let (tampered, _, _) = try await download(t, (done["downloadUri"] as! String).replacingOccurrences(of: "sig=", with: "sig=0"))
        XCTAssertEqual(tampered, .forbidden)

        // The default ONNX flavor is ONNX12; the Docker bundle carries the service.
        let onnx12 = try await export(t, "platform=ONNX")
        XCTAssertEqual(onnx12.object["flavor"] as? String, "ONNX12")
        let docker = try await export(t, "platform=DockerFile&flavor=Linux")
        XCTAssertEqual(docker.status, .ok, docker.body)
        let dockerDone = try await waitDone(t, platform: "DockerFile", flavor: "Linux")
        XCTAssertEqual(dockerDone["status"] as? String, "Done", "\(dockerDone)")
        let (_, _, bundle) = try await download(t, dockerDone["downloadUri"] as! String)
        let bundleFiles = try entries(bundle)
        XCTAssertEqual(Set(bundleFiles.keys), ["model.onnx", "labels.txt", "manifest.json", "Dockerfile", "requirements.txt",
                                               "app.py", "preprocess.py", "README.md"])
        XCTAssertEqual(Array(bundleFiles["model.onnx"]!.prefix(2)), [0x08, 0x07])
        let manifest = try JSONSerialization.jsonObject(with: bundleFiles["manifest.json"]!) as! [String: Any]
        XCTAssertEqual(manifest["iterationId"] as? String, t.iteration)
        XCTAssertEqual((manifest["tags"] as! [[String: Any]]).map { $0["name"] as! String }, t.tagNames)

        // The export blobs survive a sweep; deleting the iteration removes its exports.
        _ = try await t.app.blobSweeper.sweep(grace: 0)
        let (kept, _, _) = try await download(t, dockerDone["downloadUri"] as! String)
        XCTAssertEqual(kept, .ok)
        let deleted = try await t.app.training(.DELETE, "projects/\(t.project)/iterations/\(t.iteration)", key: t.key)
        XCTAssertEqual(deleted.status, .noContent, deleted.body)
        let left = try await Export.query(on: t.app.db).count()
        XCTAssertEqual(left, 0)
        try await t.app.asyncShutdown()
    }

    /// The platforms written by hand-made encoders build through the export job: the TFLite
    /// FlatBuffer (identifier "TFL3"), the Core ML protobuf and the float16 ONNX model (half
    /// the float32 one's size). Their runtimes check them in Tests/Interop/test_export.py.
    func testTFLiteCoreMLAndFloat16ExportsBuild() async throws {
        let t = try await trained()
        for query in ["platform=TensorFlow&flavor=TensorFlowLite", "platform=CoreML", "platform=ONNX&flavor=OnnxFloat16"] {
            let r = try await export(t, query)
            XCTAssertEqual(r.status, .ok, "\(query): \(r.body)")
        }
        let lite = try entries(try await download(t, try await waitDone(t, platform: "TensorFlow", flavor: "TensorFlowLite")["downloadUri"] as! String).2)
        XCTAssertEqual(Set(lite.keys), ["model.tflite", "labels.txt", "preprocess.py", "README.md"])
        XCTAssertEqual(String(decoding: lite["model.tflite"]!.dropFirst(4).prefix(4), as: UTF8.self), "TFL3")
        let coreML = try entries(try await download(t, try await waitDone(t, platform: "CoreML", flavor: "")["downloadUri"] as! String).2)
        XCTAssertEqual(Set(coreML.keys), ["model.mlmodel", "labels.txt", "preprocess.py", "README.md"])
        XCTAssertEqual(Array(coreML["model.mlmodel"]!.prefix(2)), [0x08, 0x04], "Model.specificationVersion = 4")
        let half = try entries(try await download(t, try await waitDone(t, platform: "ONNX", flavor: "OnnxFloat16")["downloadUri"] as! String).2)
        XCTAssertLessThan(half["model.onnx"]!.count, 8_000_000)
        XCTAssertTrue(String(decoding: half["README.md"]!, as: UTF8.self).contains("float16"))
        try await t.app.asyncShutdown()
    }

    func testExportRequestsThatCannotBeServedAreRefused() async throws {
        let t = try await trained()
        for (query, code) in [("", "BadRequestRequiredParamIsNull"),
                              ("platform=Foo", "BadRequestExportValidationFailed"),
                              ("platform=VAIDK", "BadRequestExportValidationFailed"),
                              ("platform=CoreML&flavor=ONNX12", "BadRequestExportValidationFailed"),
                              ("platform=ONNX&flavor=ONNX99", "BadRequestExportValidationFailed"),
                              ("platform=ONNX&flavor=Linux", "BadRequestExportValidationFailed"),
                              ("platform=DockerFile&flavor=Windows", "BadRequestExportValidationFailed")] {
            let r = try await export(t, query)
            XCTAssertEqual(r.status, .badRequest, query)
            XCTAssertEqual(r.code, code, "\(query): \(r.body)")
        }
        let unknown = try await t.app.training(.POST, "projects/\(t.project)/iterations/\(UUID())/export?platform=ONNX", key: t.key)
        XCTAssertEqual(unknown.status, .notFound)
        XCTAssertEqual(unknown.code, "NotFoundIteration")

        // Failed and still-training iterations have nothing to export.
        let it = try await Iteration.find(UUID(uuidString: t.iteration), on: t.app.db)!
        for (status, code) in [("Failed", "BadRequestIterationIsNotTrained"), ("Training", "BadRequestExportWhileTraining")] {
            it.status = status
            try await it.save(on: t.app.db)
            let r = try await export(t, "platform=ONNX")
            XCTAssertEqual(r.status, .badRequest)
            XCTAssertEqual(r.code, code, r.body)
        }
        it.status = "Completed"
        try await it.save(on: t.app.db)

        // targetExportPlatforms narrows what the project exports to.
        let settings = #"{"name":"e","settings":{"domainId":"\#(Self.compact)","targetExportPlatforms":["ONNX"]}}"#
        let patched = try await t.app.training(.PATCH, "projects/\(t.project)", key: t.key, body: settings)
        XCTAssertEqual(patched.status, .ok, patched.body)
        let narrowed = try await t.app.training(.GET, "projects/\(t.project)/iterations/\(t.iteration)", key: t.key).object
        XCTAssertEqual(narrowed["exportableTo"] as? [String], ["ONNX"])
        let docker = try await export(t, "platform=DockerFile")
        XCTAssertEqual(docker.code, "BadRequestExportValidationFailed", docker.body)
        let nothing = try await Export.query(on: t.app.db).count()
        XCTAssertEqual(nothing, 0)
        try await t.app.asyncShutdown()
    }

    func testGeneralDomainIsNotExportable() async throws {
        let t = try await trained(domain: Self.general)
        let it = try await t.app.training(.GET, "projects/\(t.project)/iterations/\(t.iteration)", key: t.key).object
        XCTAssertEqual(it["exportable"] as? Bool, false)
        let r = try await export(t, "platform=ONNX")
        XCTAssertEqual(r.status, .badRequest)
        XCTAssertEqual(r.code, "BadRequestExportValidationFailed", r.body)
        let list = try await t.app.training(.GET, "projects/\(t.project)/iterations/\(t.iteration)/export", key: t.key)
        XCTAssertEqual(list.status, .ok)
        XCTAssertEqual(list.array.count, 0)

        // The portal's Export menu says why, and offers no format.
        let portal = PortalClient(app: t.app)
        try await portal.get("/signin")
        let signedIn = try await portal.post("/signin", ["email": "export@example.com", "password": "password-123"]).status
        XCTAssertEqual(signedIn, .seeOther)
        let account = try await Account.query(on: t.app.db).first()!.id!.uuidString.lowercased()
        let page = try await portal.get("/accounts/\(account)/projects/\(t.project)/performance?iteration=\(t.iteration)")
        XCTAssertEqual(page.status, .ok)
        XCTAssertTrue(page.body.contains(#"id="export-unavailable""#), page.body)
        XCTAssertFalse(page.body.contains(#"id="export-form""#))
        try await t.app.asyncShutdown()
    }
}
