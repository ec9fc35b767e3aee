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

    /// The workspace's forms name a project and ids in their paths and fields: another
    /// user's get 404 and change nothing; the owner's bulk form ignores ids of another
    /// project.
    func testWorkspaceFormsOfAnotherUsersProjectAre404AndChangeNothing() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let alice = try await app.makeAccount(token: token, email: "alice@example.com", tier: "S0", name: "alice")
        _ = try await app.makeAccount(token: token, email: "bob@example.com", tier: "S0", name: "bob")
        let key = trainingKey(alice), aid = alice["id"] as! String
        let project = try await app.training(.POST, "projects?name=mine", key: key).object["id"] as! String
        let other = try await app.training(.POST, "projects?name=other", key: key).object["id"] as! String
        let tag = try await app.training(.POST, "projects/\(project)/tags?name=cat", key: key).object["id"] as! String
        let base = "/accounts/\(aid)/projects/\(project)"
        let missing = UUID().uuidString.lowercased()

        let bob = PortalClient(app: app)
        try await bob.get("/signin")
        _ = try await bob.post("/signin", ["email": "bob@example.com", "password": "password-123"])
        try await bob.get("/projects")   // signing in starts a new session: its form token
        let posts: [(String, [String: String])] = [
            ("\(base)/settings", ["name": "stolen"]),
            ("\(base)/bulk", ["action": "delete", "scope": "all"]),
            ("\(base)/tags", ["name": "dog"]),
            ("\(base)/tags/\(tag)/rename", ["name": "dog"]),
            ("\(base)/tags/\(tag)/delete", [:]),
            ("\(base)/delete", [:]),
            ("\(base)/train", [:]),
            ("\(base)/iterations/\(missing)/delete", [:]),
            ("\(base)/predictions/\(missing)/add", [:]),
            ("\(base)/predictions/\(missing)/delete", [:]),
        ]
        for (path, form) in posts {
            let r = try await bob.post(path, form)
            XCTAssertEqual(r.status, .notFound, path)
        }
        for path in [base, "\(base)/performance", "\(base)/predictions", "\(base)/settings"] {
            let status = try await bob.get(path).status
            XCTAssertEqual(status, .notFound, path)
        }
        // New project in someone else's account: refused, nothing made.
        let made = try await bob.post("/projects", ["accountId": aid, "name": "intruder", "projectType": "Classification"])
        XCTAssertEqual(made.status, .notFound)
        let names = try await app.training(.GET, "projects", key: key).array.compactMap { $0["name"] as? String }.sorted()
        XCTAssertEqual(names, ["mine", "other"])
        let tags = try await app.training(.GET, "projects/\(project)/tags", key: key).array.compactMap { $0["name"] as? String }
        XCTAssertEqual(tags, ["cat"])

        // Alice's bulk delete on one project with an image of her other project: ignored.
        let uploaded = try await app.upload(project, key: key, try distinctImages(1))
        XCTAssertEqual(uploaded.status, .ok, uploaded.body)
        let image = ((uploaded.object["images"] as! [[String: Any]])[0]["image"] as! [String: Any])["id"] as! String
        let a = PortalClient(app: app)
        try await a.get("/signin")
        _ = try await a.post("/signin", ["email": "alice@example.com", "password": "password-123"])
        try await a.get("/projects")
        let r = try await a.submit("/accounts/\(aid)/projects/\(other)/bulk", ["action": "delete", "imageIds": image])
        XCTAssertTrue(r.body.contains("Select one or more images first."), r.body)
        let kept = try await app.training(.GET, "projects/\(project)/images", key: key).array.count
        XCTAssertEqual(kept, 1)
        try await app.asyncShutdown()
    }
}
