@testable import App
import Fluent
import XCTVapor

/// Faults of the machine, not of the request: 503 with Retry-After, and /readyz says so.
final class FaultTests: XCTestCase {
    func testLowDiskRefusesWritesWith503AndReadyzSaysNotReady() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "disk@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=d", key: key).object["id"] as! String
        let up = try await app.upload(project, key: key, try distinctImages(1))
        let id = ((up.object["images"] as! [[String: Any]])[0]["image"] as! [String: Any])["id"] as! String
        let _v0 = try await app.call(.GET, "/readyz").status
        XCTAssertEqual(_v0, .ok)

        app.settings.minFreeDiskBytes = .max / 2   // as if the disk were full
        let refused = try await app.upload(project, key: key, try distinctImages(1, from: 9))
        XCTAssertEqual(refused.status, .serviceUnavailable, refused.body)
        XCTAssertEqual(refused.code, "ErrorUnknown")
        XCTAssertNotNil(refused.headers.first(name: "Retry-After"))
        let _v1 = try await ImageRecord.query(on: app.db).count()
        XCTAssertEqual(_v1, 1)
        let ready = try await app.call(.GET, "/readyz")
        XCTAssertEqual(ready.status, .serviceUnavailable)
        XCTAssertTrue(ready.body.contains("disk"))
        let _v2 = try await app.call(.GET, "/healthz").status
        XCTAssertEqual(_v2, .ok)
        // Deleting still works: it is how space comes back.
        let _v3 = try await app.training(.DELETE, "projects/\(project)/images?imageIds=\(id)", key: key).status
        XCTAssertEqual(_v3, .noContent)
        try await app.asyncShutdown()
    }

    struct LostConnection: DatabaseError, Error {
        var isSyntaxError: Bool { false }
        var isConstraintFailure: Bool { false }
        var isConnectionClosed: Bool { true }
    }

    func testDatabaseFaultsAnswer503InTheAPIsFormat() async throws {
        let app = try await makeApp()
        let req = Request(application: app, method: .GET, url: "/customvision/v3.3/training/projects", on: app.eventLoopGroup.next())
        let res = ErrorResponder.response(for: LostConnection(), request: req)
        XCTAssertEqual(res.status, .serviceUnavailable)
        XCTAssertNotNil(res.headers.first(name: "Retry-After"))
        let body = try JSONSerialization.jsonObject(with: Data(res.body.string!.utf8)) as! [String: String]
        XCTAssertEqual(body["code"], "ErrorUnknown")
        XCTAssertEqual(ErrorResponder.describe(FileBlobStore.IOFailure(description: "ENOSPC")).0, .serviceUnavailable)
        struct Bug: Error {}
        XCTAssertEqual(ErrorResponder.describe(Bug()).0, .internalServerError)
        try await app.asyncShutdown()
    }

    func testMetricsCanRequireAToken() async throws {
        let app = try await makeApp { $0.metricsToken = "metrics-secret" }
        let _v1 = try await app.call(.GET, "/metrics").status
        XCTAssertEqual(_v1, .unauthorized)
        let _v2 = try await app.call(.GET, "/metrics", headers: ["Authorization": "Bearer wrong"]).status
        XCTAssertEqual(_v2, .unauthorized)
        let _v3 = try await app.call(.GET, "/metrics", headers: ["Authorization": "Bearer metrics-secret"]).status
        XCTAssertEqual(_v3, .ok)
        try await app.asyncShutdown()
    }
}
