@testable import App
import XCTVapor

/// Another account's key gets exactly the 404 of a missing resource; another user
/// gets 404 on portal pages of an account that is not theirs.
final class TenantIsolationTests: XCTestCase {
    func testOtherAccountsKeySeesMissingResources() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let owner = try await app.makeAccount(token: token, email: "a@example.com", tier: "S0", name: "owner")
        let other = try await app.makeAccount(token: token, email: "b@example.com", tier: "S0", name: "other")
        let k1 = trainingKey(owner), k2 = trainingKey(other)
        let project = try await app.training(.POST, "projects?name=mine", key: k1).object["id"] as! String
        let tag = try await app.training(.POST, "projects/\(project)/tags?name=x", key: k1).object["id"] as! String
        let missingP = UUID().uuidString.lowercased(), missingT = UUID().uuidString.lowercased()

        let routes: [(HTTPMethod, String, String, String?)] = [
            (.GET, "projects/\(project)", "projects/\(missingP)", nil),
            (.PATCH, "projects/\(project)", "projects/\(missingP)", #"{"name":"stolen"}"#),
            (.DELETE, "projects/\(project)", "projects/\(missingP)", nil),
            (.GET, "projects/\(project)/tags", "projects/\(missingP)/tags", nil),
            (.POST, "projects/\(project)/tags?name=y", "projects/\(missingP)/tags?name=y", nil),
            (.GET, "projects/\(project)/tags/\(tag)", "projects/\(missingP)/tags/\(missingT)", nil),
            (.PATCH, "projects/\(project)/tags/\(tag)", "projects/\(missingP)/tags/\(missingT)", #"{"name":"z"}"#),
            (.DELETE, "projects/\(project)/tags/\(tag)", "projects/\(missingP)/tags/\(missingT)", nil),
        ]
        for (method, theirs, missing, body) in routes {
            let foreign = try await app.training(method, theirs, key: k2, body: body)
            let absent = try await app.training(method, missing, key: k2, body: body)
            XCTAssertEqual(foreign.status, .notFound, "\(method) \(theirs)")
            XCTAssertEqual(foreign.status, absent.status, "\(method) \(theirs)")
            XCTAssertEqual(foreign.body, absent.body, "\(method) \(theirs)")
        }
        // Nothing changed for the owner.
        let p = try await app.training(.GET, "projects/\(project)", key: k1)
        XCTAssertEqual(p.object["name"] as? String, "mine")
        let _v1 = try await app.training(.GET, "projects/\(project)/tags", key: k1).array.count
        XCTAssertEqual(_v1, 1)
        let _v2 = try await app.training(.GET, "projects", key: k2).array.count
        XCTAssertEqual(_v2, 0)
        // A prediction key is not a training key.
        let pk = try await app.training(.GET, "projects", key: predictionKey(owner))
        XCTAssertEqual(pk.status, .unauthorized)
        try await app.asyncShutdown()
    }

    func testPortalPagesOfAnotherUsersAccountAre404() async throws {
        let app = try await makeApp()
        let alice = PortalClient(app: app), bob = PortalClient(app: app)
        for (c, email) in [(alice, "alice@example.com"), (bob, "bob@example.com")] {
            try await c.get("/signup")
            let r = try await c.post("/signup", ["email": email, "password": "long-password"])
            XCTAssertEqual(r.status, .seeOther, r.body)
        }
        try await alice.get("/accounts")
        let created = try await alice.submit("/accounts", ["name": "alice-vision", "tier": "S0"])
        XCTAssertEqual(created.status, .ok)
        XCTAssertTrue(created.body.contains("Copy these keys now"))
        let id = try await Account.query(on: app.db).first()!.id!.uuidString.lowercased()

        try await bob.get("/accounts")
        let page = try await bob.get("/accounts/\(id)")
        XCTAssertEqual(page.status, .notFound)
        for action in ["rename", "delete", "keys/training/1"] {
            let r = try await bob.post("/accounts/\(id)/\(action)", ["name": "mine now"])
            XCTAssertEqual(r.status, .notFound, action)
        }
        let _v3 = try await bob.get("/admin").status
        XCTAssertEqual(_v3, .notFound, "non-admins do not see the admin area")
        let mine = try await alice.get("/accounts/\(id)")
        XCTAssertEqual(mine.status, .ok)
        XCTAssertTrue(mine.body.contains("alice-vision"))
        try await app.asyncShutdown()
    }
}
