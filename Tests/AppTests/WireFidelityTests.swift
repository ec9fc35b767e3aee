@testable import App
import XCTVapor

/// Wire details raw REST callers depend on, as Custom Vision's ASP.NET service has them.
final class WireFidelityTests: XCTestCase {
    /// HTTP-level refusals in the API's own `{"code","message"}` body: a known path with a
    /// method it does not take (405 with `Allow`), a body of a type the operation does not
    /// read (415), and a path nothing serves (404).
    func testWrongMethodAndUnsupportedMediaTypeAnswerInTheAPIsFormat() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "wire@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=wire", key: key).object["id"] as! String

        // `train` is POST only; the project path takes GET, PATCH and DELETE.
        let train = try await app.training(.GET, "projects/\(project)/train", key: key)
        XCTAssertEqual(train.status, .methodNotAllowed, train.body)
        XCTAssertEqual(train.code, "BadRequestNotSupported")
        XCTAssertEqual(train.headers.first(name: "Allow"), "POST")
        XCTAssertNotNil(train.object["message"] as? String)
        let put = try await app.training(.PUT, "Projects/\(project.uppercased())", key: key, version: "v3.3")
        XCTAssertEqual(put.status, .methodNotAllowed, put.body)
        XCTAssertEqual(Set((put.headers.first(name: "Allow") ?? "").components(separatedBy: ", ")), ["DELETE", "GET", "PATCH"])

        // A path no route has stays 404, also in the API's format.
        let missing = try await app.training(.GET, "projects/\(project)/nothing-here", key: key)
        XCTAssertEqual(missing.status, .notFound)
        XCTAssertNotNil(missing.code)

        // A JSON operation given text.
        let text = try await app.call(.PATCH, "/customvision/v3.4-preview/training/projects/\(project)",
                                      headers: ["Training-Key": key], body: "name=other", contentType: "text/plain")
        XCTAssertEqual(text.status, .unsupportedMediaType, text.body)
        XCTAssertEqual(text.code, "UnsupportedMediaType")
        let name = try await app.training(.GET, "projects/\(project)", key: key).object["name"] as? String
        XCTAssertEqual(name, "wire", "a refused body changes nothing")
        try await app.asyncShutdown()
    }

    /// Request property names match in any case (Microsoft's REST samples send PascalCase);
    /// the caller's own metadata names are kept as sent; keys Azure sends as null are there.
    func testPropertyNamesMatchInAnyCaseAndNullKeysAreSent() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "case@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=case", key: key).object["id"] as! String
        let tag = try await app.training(.POST, "projects/\(project)/tags?name=t", key: key).object["id"] as! String

        // Keys Azure sends as null are present and null.
        let bare = try await app.training(.GET, "projects/\(project)", key: key).object
        XCTAssertTrue(bare["thumbnailUri"] is NSNull, "\(bare)")
        _ = try await app.upload(project, key: key, try distinctImages(1, from: 150))
        let listed = try await app.training(.GET, "projects", key: key).array.first { $0["id"] as? String == project }
        XCTAssertTrue((listed?["thumbnailUri"] as? String)?.contains("/blobs/") == true, "\(listed ?? [:])")
        let settings = try await app.training(.GET, "projects/\(project)", key: key).object["settings"] as? [String: Any]
        XCTAssertTrue(settings?["detectionParameters"] is NSNull, "\(settings ?? [:])")

        let renamed = try await app.training(.PATCH, "projects/\(project)", key: key,
                                             body: #"{"Name": "renamed", "DESCRIPTION": "from REST"}"#)
        XCTAssertEqual(renamed.status, .ok, renamed.body)
        XCTAssertEqual(renamed.object["name"] as? String, "renamed")
        XCTAssertEqual(renamed.object["description"] as? String, "from REST")

        let image = try distinctImages(1, from: 3)[0].base64EncodedString()
        let up = try await app.training(.POST, "projects/\(project)/images/files", key: key, body: #"""
            {"Images": [{"Name": "a.jpg", "Contents": "\#(image)"}], "TagIds": ["\#(tag)"], "Metadata": {"Camera": "North", "site": "B"}}
            """#)
        XCTAssertEqual(up.status, .ok, up.body)
        let created = (up.object["images"] as? [[String: Any]])?.first?["image"] as? [String: Any]
        XCTAssertEqual((created?["tags"] as? [[String: Any]])?.first?["tagId"] as? String, tag, up.body)
        XCTAssertEqual(created?["metadata"] as? [String: String], ["Camera": "North", "site": "B"], up.body)

        let untag = try await app.training(.DELETE, "projects/\(project)/images/tags?imageIds=\(created?["id"] as? String ?? "")&tagIds=\(tag)", key: key)
        XCTAssertEqual(untag.status, .noContent, untag.body)
        let retag = try await app.training(.POST, "projects/\(project)/images/tags", key: key,
                                           body: #"{"tags": [{"ImageID": "\#(created?["id"] as? String ?? "")", "tagid": "\#(tag)"}]}"#)
        XCTAssertEqual((retag.object["created"] as? [[String: Any]])?.count, 1, retag.body)
        try await app.asyncShutdown()
    }

    /// `CreateProjectOptions` is kept and echoed in `Project.settings`; a bad URI is refused
    /// before anything is created.
    func testCreateProjectOptionsAreStoredAndEchoed() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "options@example.com", tier: "S0"))
        let container = "https://store.blob.core.windows.net/models?sv=2020-08-04&sig=abc"
        let queue = "https://store.queue.core.windows.net/training-done"
        let created = try await app.training(.POST, "projects?name=opts", key: key,
                                             body: #"{"exportModelContainerUri": "\#(container)", "NotificationQueueUri": "\#(queue)"}"#)
        XCTAssertEqual(created.status, .ok, created.body)
        let id = created.object["id"] as! String
        for answer in [created.object, try await app.training(.GET, "projects/\(id)", key: key).object] {
            let settings = answer["settings"] as? [String: Any]
            XCTAssertEqual(settings?["exportModelContainerUri"] as? String, container, "\(answer)")
            XCTAssertEqual(settings?["notificationQueueUri"] as? String, queue, "\(answer)")
        }
        let plain = try await app.training(.POST, "projects?name=plain", key: key).object["settings"] as? [String: Any]
        XCTAssertTrue(plain?["exportModelContainerUri"] is NSNull && plain?["notificationQueueUri"] is NSNull, "\(plain ?? [:])")

        for bad in ["not a uri", "ftp://store/models", "/relative/path", "https://" + String(repeating: "a", count: 3000) + ".net/"] {
            let refused = try await app.training(.POST, "projects?name=bad", key: key, body: #"{"exportModelContainerUri": "\#(bad)"}"#)
            XCTAssertEqual(refused.status, .badRequest, bad)
            XCTAssertEqual(refused.code, "BadRequestInvalidUri", refused.body)
        }
        let names = try await app.training(.GET, "projects", key: key).array.compactMap { $0["name"] as? String }
        XCTAssertEqual(Set(names), ["opts", "plain"], "refused options create nothing")
        try await app.asyncShutdown()
    }
}
