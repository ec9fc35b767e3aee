@testable import App
import XCTVapor

/// The QuotaLedger under concurrency and under live admin changes (issue 2, "Done when").
final class QuotaLedgerTests: XCTestCase {
    func testSixtyConcurrentTagCreatesOnF0StopAtFifty() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "f0@example.com", tier: "F0")
        let key = trainingKey(acct)
        let project = try await app.training(.POST, "projects?name=race", key: key).object["id"] as! String

        let results = try await withThrowingTaskGroup(of: APIResponse.self) { group in
            for i in 0..<60 {
                group.addTask { try await app.training(.POST, "projects/\(project)/tags?name=tag\(i)", key: key) }
            }
            var all: [APIResponse] = []
            for try await r in group { all.append(r) }
            return all
        }
        let ok = results.filter { $0.status == .ok }
        let refused = results.filter { $0.status != .ok }
        XCTAssertEqual(ok.count, 50, "on \(TestDatabase.name)")
        XCTAssertEqual(refused.count, 10)
        XCTAssertEqual(Set(refused.map { $0.status }), [.badRequest])
        XCTAssertEqual(Set(refused.compactMap(\.code)), ["BadRequestExceedTagPerProjectLimit"])
        let listed = try await app.training(.GET, "projects/\(project)/tags", key: key)
        XCTAssertEqual(listed.array.count, 50)
        let usage = try await app.admin(.GET, "accounts/\(acct["id"] as! String)/usage", token: token)
        let tags = (usage.object["quotas"] as! [[String: Any]]).first { $0["name"] as? String == "tagsPerProject" }!
        XCTAssertEqual(tags["used"] as? Int, 50)
        XCTAssertEqual(tags["limit"] as? Int, 50)
        try await app.asyncShutdown()
    }

    func testAdminRaisesAndLowersS0TagLimitLive() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        // The March 2018 S0: 100 tags, 25,000 images.
        let old = try await app.admin(.PUT, "tiers/S0", token: token, body: #"{"tagsPerProject":100,"imagesPerProject":25000}"#)
        XCTAssertEqual(old.status, .ok, old.body)
        let acct = try await app.makeAccount(token: token, email: "s0@example.com", tier: "S0")
        let key = trainingKey(acct)
        let project = try await app.training(.POST, "projects?name=catalogue", key: key).object["id"] as! String
        for i in 0..<100 {
            let r = try await app.training(.POST, "projects/\(project)/tags?name=t\(i)", key: key)
            XCTAssertEqual(r.status, .ok, r.body)
        }
        let refused = try await app.training(.POST, "projects/\(project)/tags?name=t100", key: key)
        XCTAssertEqual(refused.code, "BadRequestExceedTagPerProjectLimit")

        // May 2018: 250 tags / 50,000 images. The 101st tag is created at once.
        let raised = try await app.admin(.PUT, "tiers/S0", token: token, body: #"{"tagsPerProject":250,"imagesPerProject":50000}"#)
        XCTAssertEqual(raised.object["tagsPerProject"] as? Int, 250)
        XCTAssertEqual(raised.object["imagesPerProject"] as? Int, 50000)
        let r101 = try await app.training(.POST, "projects/\(project)/tags?name=t100", key: key)
        XCTAssertEqual(r101.status, .ok, r101.body)

        // Back to 100: every tag is kept, the next is refused.
        _ = try await app.admin(.PUT, "tiers/S0", token: token, body: #"{"tagsPerProject":100}"#)
        let listed = try await app.training(.GET, "projects/\(project)/tags", key: key)
        XCTAssertEqual(listed.array.count, 101)
        let next = try await app.training(.POST, "projects/\(project)/tags?name=t101", key: key)
        XCTAssertEqual(next.code, "BadRequestExceedTagPerProjectLimit")

        // Deleting a tag gives its unit back only down to the limit.
        let oneId = listed.array[0]["id"] as! String
        let del = try await app.training(.DELETE, "projects/\(project)/tags/\(oneId)", key: key)
        XCTAssertEqual(del.status, .noContent)
        let still = try await app.training(.POST, "projects/\(project)/tags?name=t102", key: key)
        XCTAssertEqual(still.code, "BadRequestExceedTagPerProjectLimit", "100 tags remain, limit 100")

        let audit = try await app.admin(.GET, "audit", token: token)
        XCTAssertEqual(audit.array.filter { $0["action"] as? String == "tier.update" }.count, 3)
        let last = audit.array.first { $0["action"] as? String == "tier.update" }!
        XCTAssertTrue((last["before"] as? String)?.contains(#""tagsPerProject":250"#) == true)
        XCTAssertTrue((last["after"] as? String)?.contains(#""tagsPerProject":100"#) == true)
        XCTAssertEqual(last["actor"] as? String, "admin@example.com")
        try await app.asyncShutdown()
    }

    func testAccountOverrideBeatsTierAndNullRemovesIt() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "o@example.com", tier: "F0")
        let id = acct["id"] as! String
        let key = trainingKey(acct)
        _ = try await app.training(.POST, "projects?name=a", key: key)
        _ = try await app.training(.POST, "projects?name=b", key: key)
        let third = try await app.training(.POST, "projects?name=c", key: key)
        XCTAssertEqual(third.code, "BadRequestExceedProjectLimit")

        let set = try await app.admin(.PUT, "accounts/\(id)/overrides", token: token, body: #"{"projects":3}"#)
        XCTAssertEqual(set.status, .ok, set.body)
        let nowOK = try await app.training(.POST, "projects?name=c", key: key)
        XCTAssertEqual(nowOK.status, .ok, nowOK.body)

        let usage = try await app.admin(.GET, "accounts/\(id)/usage", token: token)
        let projects = (usage.object["quotas"] as! [[String: Any]]).first { $0["name"] as? String == "projects" }!
        XCTAssertEqual(projects["used"] as? Int, 3)
        XCTAssertEqual(projects["limit"] as? Int, 3)
        XCTAssertEqual(projects["overridden"] as? Bool, true)

        _ = try await app.admin(.PUT, "accounts/\(id)/overrides", token: token, body: #"{"projects":null}"#)
        let back = try await app.admin(.GET, "accounts/\(id)/usage", token: token)
        let p2 = (back.object["quotas"] as! [[String: Any]]).first { $0["name"] as? String == "projects" }!
        XCTAssertEqual(p2["limit"] as? Int, 2)
        XCTAssertEqual(p2["used"] as? Int, 3, "lowering a limit keeps data")
        let _v1 = try await app.training(.GET, "projects", key: key).array.count
        XCTAssertEqual(_v1, 3)

        // Tier change applies at once; deleting a project frees its unit.
        let toS0 = try await app.admin(.PUT, "accounts/\(id)/tier", token: token, body: #"{"tier":"S0"}"#)
        XCTAssertEqual(toS0.status, .ok, toS0.body)
        let _v2 = try await app.training(.POST, "projects?name=d", key: key).status
        XCTAssertEqual(_v2, .ok)
        let unknownTier = try await app.admin(.PUT, "accounts/\(id)/tier", token: token, body: #"{"tier":"Gold"}"#)
        XCTAssertEqual(unknownTier.status, .badRequest)
        try await app.asyncShutdown()
    }
}

/// Prediction calls are limited to the tier's transactions per second.
final class RateLimitTests: XCTestCase {
    func testPredictionTPSLimitAnswers429WithRetryAfter() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "tps@example.com", tier: "F0")
        let key = predictionKey(acct)
        let path = "/customvision/v3.1/prediction/\(UUID().uuidString.lowercased())/classify/iterations/prod/image"
        func burst() async throws -> [APIResponse] {
            try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for _ in 0..<12 { group.addTask { try await app.call(.POST, path, headers: ["Prediction-Key": key]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        let limited = try await burst()
        let refused = limited.filter { $0.status == .tooManyRequests }
        // F0 allows 2 per second and paces 2 more: 12 calls within at most two windows leave at least 4 refused.
        XCTAssertGreaterThanOrEqual(refused.count, 4)
        XCTAssertTrue(refused.allSatisfy { $0.headers.first(name: "Retry-After") == "1" && $0.code == "TooManyRequests" })
        XCTAssertTrue(limited.filter { $0.status != .tooManyRequests }.allSatisfy { $0.code == "NotFoundIteration" })

        let id = acct["id"] as! String
        _ = try await app.admin(.PUT, "accounts/\(id)/overrides", token: token, body: #"{"transactionsPerSecond":"unlimited"}"#)
        let _v1 = try await burst().filter { $0.status == .tooManyRequests }.count
        XCTAssertEqual(_v1, 0)
        try await app.asyncShutdown()
    }
}
