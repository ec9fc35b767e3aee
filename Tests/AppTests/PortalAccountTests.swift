@testable import App
import Fluent
import XCTVapor

/// Resource accounts through the portal: create, one F0 per user, keys shown once and
/// regenerable, rename, delete only when empty; the admin pages edit tiers.
final class PortalAccountTests: XCTestCase {
    func testAccountLifecycleAndKeys() async throws {
        let app = try await makeApp()
        let c = PortalClient(app: app)
        try await c.get("/signup")
        try await c.post("/signup", ["email": "p@example.com", "password": "long-password"])
        try await c.get("/accounts")
        let f0 = try await c.submit("/accounts", ["name": "free one", "tier": "F0"])
        XCTAssertEqual(f0.status, .ok)
        let keys = f0.body.components(separatedBy: #"class="new-key""#).dropFirst().map { part -> String in
            guard let close = part.range(of: ">") else { return "" }
            let after = part[close.upperBound...]
            return String(after.prefix { $0 != "<" })
        }
        XCTAssertEqual(keys.count, 4)
        XCTAssertTrue(keys.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
        XCTAssertTrue(f0.body.contains("/providers/Microsoft.CognitiveServices/accounts/free-one-"))
        XCTAssertTrue(f0.body.contains("http://127.0.0.1:8080/"))

        let second = try await c.post("/accounts", ["name": "free two", "tier": "F0"])
        XCTAssertEqual(second.status, .conflict)
        XCTAssertTrue(second.body.contains("only one is allowed"))
        let _v1 = try await c.post("/accounts", ["name": "x", "tier": "Gold"]).status
        XCTAssertEqual(_v1, .badRequest)

        let account = try await Account.query(on: app.db).first()!
        let id = account.id!.uuidString.lowercased()
        // The key works until regenerated; the page shows it only once.
        let _v2 = try await app.training(.GET, "projects", key: keys[0]).status
        XCTAssertEqual(_v2, .ok)
        let page = try await c.get("/accounts/\(id)")
        XCTAssertFalse(page.body.contains(keys[0]))
        XCTAssertTrue(page.body.contains("••••••••••••" + keys[0].suffix(4)))
        let regen = try await c.submit("/accounts/\(id)/keys/training/1", [:])
        XCTAssertTrue(regen.body.contains(#"data-label="Training key 1""#), regen.body)
        let again = try await c.get("/accounts/\(id)")
        XCTAssertFalse(again.body.contains(#"class="new-key""#), "a new key is shown once, not on the next visit")
        let _v3 = try await app.training(.GET, "projects", key: keys[0]).status
        XCTAssertEqual(_v3, .unauthorized)
        let _v4 = try await app.training(.GET, "projects", key: keys[1]).status
        XCTAssertEqual(_v4, .ok, "key 2 keeps working")

        let _v5 = try await c.submit("/accounts/\(id)/rename", ["name": "renamed"]).body.contains("Renamed to renamed.")
        XCTAssertTrue(_v5)
        let renamed = try await Account.find(account.id, on: app.db)!
        XCTAssertEqual(renamed.resourceName, account.resourceName, "the resource id never changes")

        _ = try await app.training(.POST, "projects?name=p", key: keys[1])
        let refused = try await c.submit("/accounts/\(id)/delete", [:])
        XCTAssertTrue(refused.body.contains(#"id="error""#) && refused.body.contains("Not deleted"), refused.body)
        let stillThere = try await Account.query(on: app.db).count()
        XCTAssertEqual(stillThere, 1)
        let pid = try await Project.query(on: app.db).first()!.id!.uuidString.lowercased()
        let _v6 = try await app.training(.DELETE, "projects/\(pid)", key: keys[1]).status
        XCTAssertEqual(_v6, .noContent)
        let _v7 = try await c.post("/accounts/\(id)/delete", [:]).status
        XCTAssertEqual(_v7, .seeOther)
        let _v8 = try await Account.query(on: app.db).count()
        XCTAssertEqual(_v8, 0)
        let _v9 = try await AccountKey.query(on: app.db).count()
        XCTAssertEqual(_v9, 0)
        // With the F0 gone, another F0 is allowed.
        let _v10 = try await c.post("/accounts", ["name": "free again", "tier": "F0"]).status
        XCTAssertEqual(_v10, .seeOther)
        try await app.asyncShutdown()
    }

    /// An address no route matches still draws a page that shows who is signed in; API
    /// paths keep their JSON 404 and their 405 for a known path with another method.
    func testNotFoundPageKeepsTheSignedInUser() async throws {
        let app = try await makeApp()
        let c = PortalClient(app: app)
        try await c.get("/signup")
        try await c.post("/signup", ["email": "lost@example.com", "password": "long-password"])
        let page = try await c.get("/accounts/nowhere/projects/nothing/no-such-page")
        XCTAssertEqual(page.status, .notFound)
        XCTAssertTrue(page.body.contains(#"id="who""#), page.body)
        XCTAssertTrue(page.body.contains("lost@example.com"))
        let visitor = try await PortalClient(app: app).get("/no-such-page")
        XCTAssertEqual(visitor.status, .notFound)
        XCTAssertFalse(visitor.body.contains(#"id="who""#))
        let api = try await app.call(.GET, "customvision/v3.3/training/no-such-operation")
        XCTAssertEqual(api.status, .notFound)
        XCTAssertTrue(api.body.hasPrefix("{"), api.body)
        let wrongMethod = try await app.call(.DELETE, "customvision/v3.3/training/domains")
        XCTAssertEqual(wrongMethod.status, .methodNotAllowed)
        // Shut down: a live app's job workers would claim later tests' jobs on a shared PostgreSQL.
        try await app.asyncShutdown()
    }

    func testAdminEditsTierInPortalAndUsageShowsIt() async throws {
        let app = try await makeApp()
        _ = try await app.makeAdmin(email: "root@example.com")
        let admin = PortalClient(app: app)
        try await admin.get("/signin")
        let _v11 = try await admin.post("/signin", ["email": "root@example.com", "password": "admin-password-1"]).status
        XCTAssertEqual(_v11, .seeOther)
        try await admin.get("/accounts")
        _ = try await admin.post("/accounts", ["name": "ops", "tier": "S0"])
        let tiers = try await admin.get("/admin")
        XCTAssertTrue(tiers.body.contains("tier-form-S0"))
        var form = ["projects": "7", "tagsPerProject": "250", "imagesPerProject": "50000", "iterationsPerProject": "10",
                    "predictionsPerMonth": "", "transactionsPerSecond": "10", "objectDetectionPresent": "1"]
        form["objectDetection-S0"] = "on"  // each tier's column has its own checkbox
        let saved = try await admin.submit("/admin/tiers/S0", form)
        XCTAssertTrue(saved.body.contains("Saved tier S0"), saved.body)
        let s0 = try await Tier.query(on: app.db).filter(\.$code == "S0").first()!
        XCTAssertEqual(s0.projects, 7)
        XCTAssertNil(s0.predictionsPerMonth)
        let id = try await Account.query(on: app.db).first()!.id!.uuidString.lowercased()
        let usage = try await admin.get("/admin/accounts/\(id)")
        XCTAssertTrue(usage.body.contains("Projects: "))
        XCTAssertTrue(usage.body.contains("0 / 7"), "usage shows the new limit")
        let overrides = try await admin.submit("/admin/accounts/\(id)/overrides", ["projects": "unlimited"])
        XCTAssertTrue(overrides.body.contains("0 / unlimited"))
        let audit = try await admin.get("/admin/audit")
        XCTAssertTrue(audit.body.contains("Tier limits changed"))
        XCTAssertTrue(audit.body.contains("<strong>Projects: </strong><del>100</del> → <ins>7</ins>"), audit.body)
        XCTAssertTrue(audit.body.contains("Account overrides changed"))
        // Targets read as names, the stored id kept as the title.
        XCTAssertTrue(audit.body.contains(#"<span title="account:\#(id)" class="audit-target">Account <strong>ops</strong></span>"#), audit.body)
        XCTAssertEqual(AuditDiff.label("tagsPerProject"), "Tags per project")
        XCTAssertEqual(AuditDiff.label("objectDetection"), "Object detection")
        XCTAssertEqual(s0.objectDetection, true)

        // Paging reaches every entry, the oldest on the last page, filters kept.
        for n in 0..<60 {
            _ = try await admin.submit("/admin/tiers/S0", form.merging(["projects": "\(20 + n)"]) { $1 })
        }
        let total = try await AuditEntry.query(on: app.db).count()
        let first = try await admin.get("/admin/audit?action=tier.update")
        XCTAssertTrue(first.body.contains("Page 1 of 2 · 61 changes"), first.body)
        XCTAssertTrue(first.body.contains(#"id="audit-older""#))
        XCTAssertTrue(first.body.contains("<del>78</del> → <ins>79</ins>"))
        let second = try await admin.get("/admin/audit?action=tier.update&page=2")
        XCTAssertTrue(second.body.contains("Page 2 of 2"))
        XCTAssertTrue(second.body.contains("<del>100</del> → <ins>7</ins>"), "the oldest change is on the last page")
        XCTAssertFalse(second.body.contains(#"<td data-label="What">Account overrides changed</td>"#), "the filter is kept across pages")
        XCTAssertTrue(first.body.contains(#"<td data-label="What">Tier limits changed</td>"#))
        let everything = try await admin.get("/admin/audit?page=99")
        XCTAssertTrue(everything.body.contains("of \((total + 49) / 50) · \(total) changes"), everything.body)
        let byWho = try await admin.get("/admin/audit?who=root%40example")
        XCTAssertTrue(byWho.body.contains("\(total) changes"))
        // Case-insensitive on either database, wildcards taken literally.
        let byTier = try await admin.get("/admin/audit?who=s0")
        XCTAssertTrue(byTier.body.contains("· 61 changes"), byTier.body)
        let literal = try await admin.get("/admin/audit?who=%25")
        XCTAssertTrue(literal.body.contains("· 0 changes"), literal.body)
        try await app.asyncShutdown()
    }
}

final class PortalProjectTests: XCTestCase {
    func testProjectsAndTagsInThePortalFollowTheSameQuotas() async throws {
        let app = try await makeApp()
        let c = PortalClient(app: app)
        try await c.get("/signup")
        try await c.post("/signup", ["email": "pp@example.com", "password": "long-password"])
        try await c.get("/accounts")
        _ = try await c.post("/accounts", ["name": "free", "tier": "F0"])
        let a = try await Account.query(on: app.db).first()!.id!.uuidString.lowercased()
        let home = try await c.get("/projects")
        XCTAssertTrue(home.body.contains(#"id="create-project""#))
        let made = try await c.post("/projects", ["accountId": a, "name": "Birds", "description": "garden", "projectType": "Classification",
                                                  "domainId": "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31", "classificationType": "Multiclass"])
        XCTAssertEqual(made.status, .seeOther)
        let location = made.headers.first(name: .location)!
        let project = try await c.get(location)
        XCTAssertTrue(project.body.contains("Multiclass"))
        XCTAssertTrue(project.body.contains("Project Birds created."))
        let tagged = try await c.submit(location + "/tags", ["name": "robin", "type": "Regular"])
        XCTAssertTrue(tagged.body.contains("Tag robin added."))
        let dupe = try await c.post(location + "/tags", ["name": "Robin", "type": "Regular"])
        XCTAssertEqual(dupe.status, .badRequest)
        XCTAssertTrue(dupe.body.contains("already exists"))
        XCTAssertTrue(dupe.body.contains(#"value="Robin""#), "the input is kept")
        // A domain of the other type than the one chosen is refused in place.
        let mismatch = try await c.post("/projects", ["accountId": a, "name": "Boxes", "projectType": "ObjectDetection",
                                                      "domainId": "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"])
        XCTAssertEqual(mismatch.status, .badRequest)
        _ = try await c.post("/projects", ["accountId": a, "name": "Second", "projectType": "Classification"])
        let third = try await c.post("/projects", ["accountId": a, "name": "Third", "projectType": "Classification"])
        XCTAssertEqual(third.status, .badRequest, "F0 allows two projects")
        XCTAssertTrue(third.body.contains("project limit"))
        XCTAssertTrue(third.body.contains(#"data-open="true""#) && third.body.contains(#"value="Third""#), "the dialog reopens with the input")

        let stranger = PortalClient(app: app)
        try await stranger.get("/signup")
        try await stranger.post("/signup", ["email": "x@example.com", "password": "long-password"])
        let _v1 = try await stranger.get(location).status
        XCTAssertEqual(_v1, .notFound)
        let _v2 = try await c.post(location + "/delete", [:]).status
        XCTAssertEqual(_v2, .seeOther)
        let _v3 = try await Project.query(on: app.db).count()
        XCTAssertEqual(_v3, 1)
        try await app.asyncShutdown()
    }
}
