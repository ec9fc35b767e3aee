@testable import App
import Fluent
import XCTVapor

/// Bad input gets a documented 4xx body and never changes a row.
final class BadInputTests: XCTestCase {
    func testBadInputIsRefusedWithoutChangingRows() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "bad@example.com", tier: "S0")
        let key = trainingKey(acct)
        let project = try await app.training(.POST, "projects?name=stable&description=keep", key: key).object["id"] as! String
        let tag = try await app.training(.POST, "projects/\(project)/tags?name=keep", key: key).object["id"] as! String
        let before = try await snapshot(app)

        let huge = String(repeating: "n", count: 1_000_000)
        let cases: [(HTTPMethod, String, String?, HTTPStatus, String)] = [
            (.PATCH, "projects/\(project)", #"{"name": "#, .badRequest, "BadRequest"),
            (.PATCH, "projects/\(project)", #"{"name": 5}"#, .badRequest, "BadRequest"),
            (.PATCH, "projects/\(project)", #"{"name":"\#(huge)"}"#, .badRequest, "BadRequestProjectName"),
            (.PATCH, "projects/\(project)", #"{"name":"a\u0007b"}"#, .badRequest, "BadRequestProjectName"),
            (.PATCH, "projects/\(project)", #"{"settings":{"classificationType":"Multiway"}}"#, .badRequest, "BadRequestProjectUnknownClassification"),
            (.PATCH, "projects/\(project)", #"{"settings":{"domainId":"not-a-domain"}}"#, .badRequest, "BadRequestProjectUnknownDomain"),
            (.PATCH, "projects/\(project)", #"{"settings":{"domainId":"da2e3a8a-40a5-4171-82f4-58522f70fbc1"}}"#, .badRequest, "BadRequestProjectUnsupportedDomainTypeChange"),
            (.PATCH, "projects/\(project)", #"{"settings":{"targetExportPlatforms":["ONNX"]}}"#, .badRequest, "BadRequestProjectUnsupportedExportPlatform"),
            (.POST, "projects?name=x&classificationType=Sideways", nil, .badRequest, "BadRequestProjectUnknownClassification"),
            (.POST, "projects?name=x&domainId=00000000-0000-0000-0000-000000000000", nil, .badRequest, "BadRequestProjectUnknownDomain"),
            (.POST, "projects?name=%0Acontrol", nil, .badRequest, "BadRequestProjectName"),
            (.POST, "projects", nil, .badRequest, "BadRequestProjectName"),
            (.POST, "projects/\(project)/tags?name=t&type=Weird", nil, .badRequest, "BadRequestTagType"),
            (.POST, "projects/\(project)/tags?name=\(String(repeating: "x", count: 300))", nil, .badRequest, "BadRequestTagName"),
            (.POST, "projects/\(project)/tags?name=KEEP", nil, .badRequest, "BadRequestTagNameNotUnique"),
            (.PATCH, "projects/\(project)/tags/\(tag)", #"{"type":"Sideways"}"#, .badRequest, "BadRequestTagType"),
            (.PATCH, "projects/\(project)/tags/\(tag)", #"["not","an","object"]"#, .badRequest, "BadRequest"),
            (.GET, "projects/not-a-uuid", nil, .notFound, "NotFoundProject"),
            (.GET, "projects/\(project)/tags/not-a-uuid", nil, .notFound, "NotFoundTag"),
            (.GET, "domains/00000000-0000-0000-0000-000000000000", nil, .notFound, "NotFoundDomain"),
            (.GET, "projects/\(project)/nothing-here", nil, .notFound, "NotFound"),
        ]
        for (method, path, body, status, code) in cases {
            let r = try await app.training(method, path, key: key, body: body)
            XCTAssertEqual(r.status, status, "\(method) \(path.prefix(80)): \(r.body.prefix(200))")
            XCTAssertEqual(r.code, code, "\(method) \(path.prefix(80))")
            XCTAssertNotNil(r.object["message"] as? String)
            XCTAssertEqual(r.headers.first(name: .contentType), "application/json; charset=utf-8")
        }
        // Keys and versions.
        let noKey = try await app.call(.GET, "/customvision/v3.4-preview/training/projects")
        XCTAssertEqual(noKey.status, .unauthorized)
        XCTAssertEqual(noKey.code, "Unauthorized")
        let wrongKey = try await app.training(.GET, "projects", key: "0123456789abcdef0123456789abcdef")
        XCTAssertEqual(wrongKey.code, "Unauthorized")
        let version = try await app.training(.GET, "projects", key: key, version: "v9.9")
        XCTAssertEqual(version.status, .notFound)
        XCTAssertEqual(version.code, "NotFound")
        let predictionVersion = try await app.call(.POST, "/customvision/v3.3/prediction/\(project)/classify/iterations/x/image",
                                                   headers: ["Prediction-Key": predictionKey(acct)])
        XCTAssertEqual(predictionVersion.status, .notFound)

        let after = try await snapshot(app)
        XCTAssertEqual(before, after)

        // SQL meta-characters are just characters.
        let sneaky = "Robert'); DROP TABLE tags;--"
        let t = try await app.training(.POST, "projects/\(project)/tags?name=\(urlEncode(sneaky))", key: key)
        XCTAssertEqual(t.status, .ok, t.body)
        XCTAssertEqual(t.object["name"] as? String, sneaky)
        let _v1 = try await app.training(.GET, "projects/\(project)/tags", key: key).array.count
        XCTAssertEqual(_v1, 2)
        try await app.asyncShutdown()
    }

    func testAdminAPIRefusesBadInput() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let before = try await app.admin(.GET, "tiers", token: token).body
        for body in [#"{"projects": -1}"#, #"{"projects": "many"}"#, #"{"colour": 3}"#, #"{"objectDetection": 7}"#, "{"] {
            let r = try await app.admin(.PUT, "tiers/S0", token: token, body: body)
            XCTAssertEqual(r.status, .badRequest, body)
            XCTAssertNotNil(r.code)
        }
        let _v2 = try await app.admin(.PUT, "tiers/Gold", token: token, body: "{}").status
        XCTAssertEqual(_v2, .notFound)
        let _v3 = try await app.admin(.GET, "tiers", token: "sla_wrong").status
        XCTAssertEqual(_v3, .unauthorized)
        let _v4 = try await app.call(.GET, "/admin/api/tiers").code
        XCTAssertEqual(_v4, "Unauthorized")
        let _v5 = try await app.admin(.GET, "tiers", token: token).body
        XCTAssertEqual(_v5, before)
        let dupe = try await app.admin(.POST, "users", token: token, body: #"{"email":"admin@example.com","password":"whatever-1"}"#)
        XCTAssertEqual(dupe.status, .conflict)
        let noOwner = try await app.admin(.POST, "accounts", token: token, body: #"{"ownerEmail":"ghost@example.com","name":"x1","tier":"S0"}"#)
        XCTAssertEqual(noOwner.status, .notFound)
        try await app.asyncShutdown()
    }

    /// Every row of the tables the API can touch, as text.
    private func snapshot(_ app: Application) async throws -> String {
        let projects = try await Project.query(on: app.db).sort(\.$name).all()
            .map { "\($0.name)|\($0.description)|\($0.domainID)|\($0.classificationType ?? "")|\($0.targetExportPlatformsRaw)|\($0.settingsJSON)" }
        let tags = try await Tag.query(on: app.db).sort(\.$name).all().map { "\($0.name)|\($0.typeRaw)|\($0.description)" }
        let usage = try await QuotaUsage.query(on: app.db).sort(\.$scope).all().map { "\($0.scope)=\($0.used)" }
        return (projects + tags + usage).joined(separator: "\n")
    }
}
