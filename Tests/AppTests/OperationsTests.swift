@testable import App
import XCTVapor

final class OperationsTests: XCTestCase {
    func testHealthReadinessMetricsAndRequestIDs() async throws {
        let app = try await makeApp()
        let _v1 = try await app.call(.GET, "/healthz").status
        XCTAssertEqual(_v1, .ok)
        let ready = try await app.call(.GET, "/readyz")
        XCTAssertEqual(ready.status, .ok, ready.body)
        _ = try await app.call(.GET, "/customvision/v3.4-preview/training/domains")
        let metrics = try await app.call(.GET, "/metrics")
        XCTAssertEqual(metrics.status, .ok)
        XCTAssertTrue(metrics.body.contains("http_requests_total"), String(metrics.body.prefix(300)))
        let tagged = try await app.call(.GET, "/healthz", headers: ["X-Request-Id": "abc-123"])
        XCTAssertEqual(tagged.headers.first(name: "X-Request-Id"), "abc-123")
        let _v2 = try await app.call(.GET, "/healthz").headers.first(name: "X-Request-Id")
        XCTAssertNotNil(_v2)
        try await app.asyncShutdown()
    }

    func testDomainsMatchAzureIdsAndDatesAreISO() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "d@example.com", tier: "S0"))
        let domains = try await app.call(.GET, "//customvision/v3.3/Training/Domains", headers: ["training-key": key])
        XCTAssertEqual(domains.status, .ok)
        let names = domains.array.map { "\($0["type"]!)/\($0["name"]!)" }
        XCTAssertTrue(names.contains("ObjectDetection/General"))
        XCTAssertTrue(names.contains("Classification/General [A1]"))
        XCTAssertTrue(domains.array.contains { $0["id"] as? String == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31" })
        let one = try await app.training(.GET, "domains/0732100f-1a38-4e49-a514-c9b44c697ab5", key: key)
        XCTAssertEqual(one.object["exportable"] as? Bool, true)
        let p = try await app.training(.POST, "projects?name=dates", key: key, body: "")
        let created = p.object["created"] as! String
        XCTAssertNotNil(created.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#, options: .regularExpression), created)
        let settings = p.object["settings"] as! [String: Any]
        XCTAssertEqual(settings["classificationType"] as? String, "Multilabel")
        XCTAssertEqual(settings["domainId"] as? String, "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31")
        // Detection project, multiclass project, update.
        let od = try await app.training(.POST, "projects?name=od&domainId=da2e3a8a-40a5-4171-82f4-58522f70fbc1", key: key)
        XCTAssertEqual(od.status, .ok, od.body)
        let mc = try await app.training(.POST, "projects?name=mc&classificationType=Multiclass&targetExportPlatforms=ONNX&domainId=0732100f-1a38-4e49-a514-c9b44c697ab5", key: key)
        let mcs = mc.object["settings"] as! [String: Any]
        XCTAssertEqual(mcs["classificationType"] as? String, "Multiclass")
        XCTAssertEqual(mcs["targetExportPlatforms"] as? [String], ["ONNX"])
        let id = mc.object["id"] as! String
        let upd = try await app.training(.PATCH, "projects/\(id)", key: key, body: #"{"name":"renamed","description":"d","settings":{"classificationType":"Multilabel"}}"#)
        XCTAssertEqual(upd.object["name"] as? String, "renamed")
        XCTAssertEqual((upd.object["settings"] as! [String: Any])["classificationType"] as? String, "Multilabel")
        // Tags: Negative at most once.
        let _v3 = try await app.training(.POST, "projects/\(id)/tags?name=neg&type=Negative", key: key).status
        XCTAssertEqual(_v3, .ok)
        let _v4 = try await app.training(.POST, "projects/\(id)/tags?name=neg2&type=Negative", key: key).code
        XCTAssertEqual(_v4, "BadRequestMultipleNegativeTag")
        let _v5 = try await app.training(.DELETE, "projects/\(id)", key: key).status
        XCTAssertEqual(_v5, .noContent)
        let _v6 = try await app.training(.GET, "projects/\(id)", key: key).code
        XCTAssertEqual(_v6, "NotFoundProject")
        try await app.asyncShutdown()
    }
}
