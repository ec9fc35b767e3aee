@testable import App
import Fluent
import Foundation
import XCTVapor

/// Custom Vision's limits over time (`config/tier-versions.json`): an admin applies a
/// version through the API or the portal, S0 accounts follow at once, and back again.
final class TierVersionTests: XCTestCase {
    func testApplyingAzuresCurrentLimitsAndGoingBack() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let account = try await app.makeAccount(token: token, email: "tv@example.com", tier: "S0")
        let accountID = account["id"] as! String
        let key = trainingKey(account)

        let listed = try await app.admin(.GET, "tier-versions", token: token)
        XCTAssertEqual(listed.array.compactMap { $0["version"] as? String }, ["2018-03", "2018-05", "2025-01"], listed.body)

        let applied = try await app.admin(.POST, "tier-versions/2025-01/apply", token: token)
        XCTAssertEqual(applied.status, .ok, applied.body)
        XCTAssertEqual((applied.object["tiers"] as? [[String: Any]])?.compactMap { $0["code"] as? String }, ["F0", "S0"])
        XCTAssertEqual(applied.object["missing"] as? [String], [])
        let s0 = try await Tier.query(on: app.db).filter(\.$code == "S0").first()!
        XCTAssertEqual([s0.imagesPerProject, s0.tagsPerProject, s0.iterationsPerProject], [100_000, 500, 20])
        XCTAssertNil(s0.predictionsPerMonth)
        XCTAssertEqual(s0.storedPredictionsPerProject, 10_000, "limits the version does not name stay")
        let trial = try await Tier.query(on: app.db).filter(\.$code == "Trial").first()!
        XCTAssertEqual(trial.iterationsPerProject, 10, "tiers the version does not name stay")
        let usage = try await app.admin(.GET, "accounts/\(accountID)/usage", token: token)
        let images = (usage.object["quotas"] as? [[String: Any]])?.first { $0["name"] as? String == "imagesPerProject" }
        XCTAssertEqual(images?["limit"] as? Int, 100_000, usage.body)

        // The account's next request sees the new limit: 500 tags fit where 250 did.
        let project = try await app.training(.POST, "projects?name=tags", key: key).object["id"] as! String
        _ = try await app.admin(.PUT, "tiers/S0", token: token, body: #"{"tagsPerProject":2}"#)
        for n in 0..<2 { _ = try await app.training(.POST, "projects/\(project)/tags?name=t\(n)", key: key) }
        let third = try await app.training(.POST, "projects/\(project)/tags?name=t2", key: key)
        XCTAssertEqual(third.code, "BadRequestExceedTagPerProjectLimit", third.body)
        _ = try await app.admin(.POST, "tier-versions/2025-01/apply", token: token)
        let _v1 = try await app.training(.POST, "projects/\(project)/tags?name=t2", key: key).status
        XCTAssertEqual(_v1, .ok)

        _ = try await app.admin(.POST, "tier-versions/2018-05/apply", token: token)
        let back = try await Tier.query(on: app.db).filter(\.$code == "S0").first()!
        XCTAssertEqual([back.imagesPerProject, back.tagsPerProject, back.iterationsPerProject], [50_000, 250, 10])

        let unknown = try await app.admin(.POST, "tier-versions/1999-01/apply", token: token)
        XCTAssertEqual(unknown.status, .notFound)
        XCTAssertEqual(unknown.code, "NotFound")
        let versions = try await AuditEntry.query(on: app.db).filter(\.$action == "tier.version").count()
        XCTAssertEqual(versions, 3)

        // The portal: the same versions as a form on the tier page.
        let portal = PortalClient(app: app)
        try await portal.get("/signin")
        _ = try await portal.post("/signin", ["email": "admin@example.com", "password": "admin-password-1"])
        let page = try HTMLPage(try await portal.get("/admin").body)
        XCTAssertEqual(try page.all("//select[@id='tier-version-select']/option").map { $0.attribute("value") ?? "" }, ["2018-03", "2018-05", "2025-01"])
        let done = try await portal.submit("/admin/tier-versions", ["version": "2018-03"])
        XCTAssertTrue(done.body.contains("Applied the 2018-03 limits to F0, S0, Trial."), done.body)
        let old = try await Tier.query(on: app.db).filter(\.$code == "S0").first()!
        XCTAssertEqual([old.imagesPerProject, old.tagsPerProject], [25_000, 100])
        let refused = try await portal.submit("/admin/tier-versions", ["version": "<b>x</b>"])
        XCTAssertEqual(refused.status, .notFound)
        XCTAssertFalse(refused.body.contains("<b>x</b>"), "the name is escaped")
        try await app.asyncShutdown()
    }
}
