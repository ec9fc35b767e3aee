@testable import App
import XCTVapor

/// What portal pages show, rendered through the app and parsed, with no browser: the
/// structure checks that need no JavaScript (Chromium keeps the flows that do).
final class PortalPageTests: XCTestCase {
    private func signIn(_ app: Application, _ email: String, password: String = "password-123") async throws -> PortalClient {
        let c = PortalClient(app: app)
        try await c.get("/signin")
        let signedIn = try await c.post("/signin", ["email": email, "password": password])
        XCTAssertEqual(signedIn.status, .seeOther, signedIn.body)
        return c
    }

    /// The projects home shows each project's facts on its card; the account page's usage
    /// bar turns red at a limit and amber near one.
    func testProjectCardAndUsageBars() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "work@example.com", tier: "F0", name: "bench")
        let key = trainingKey(acct), accountId = acct["id"] as! String
        let project = try await app.training(.POST, "projects?name=Wardrobe&classificationType=Multiclass", key: key).object["id"] as! String
        let sneaker = try await app.training(.POST, "projects/\(project)/tags?name=sneaker", key: key).object["id"] as! String
        let images = try distinctImages(12)
        let tagged = try await app.upload(project, key: key, Array(images[..<6]), tagIds: [sneaker])
        XCTAssertEqual(tagged.status, .ok, tagged.body)
        let untagged = try await app.upload(project, key: key, Array(images[6...]))
        XCTAssertEqual(untagged.status, .ok, untagged.body)

        let c = try await signIn(app, "work@example.com")
        let home = try HTMLPage(try await c.get("/projects").body)
        let cards = try home.all("//*[@id='project-cards']/*[@data-project='\(project)']")
        XCTAssertEqual(cards.count, 1)
        let card = try XCTUnwrap(cards.first)
        XCTAssertTrue(card.classes.contains("card"), card.html)
        for fact in ["Wardrobe", "12 images", "Multiclass"] {
            XCTAssertTrue(card.text.contains(fact), "\(fact) in \(card.text)")
        }
        XCTAssertEqual(try card.all(#".//*[contains(concat(" ", @class, " "), " cover ")]//img"#).count, 1, "the cover shows an image")

        // F0 allows two projects: at the limit, the bar is red.
        _ = try await app.training(.POST, "projects?name=Second", key: key)
        let full = try HTMLPage(try await c.get("/accounts/\(accountId)").body)
        let atLimit = try XCTUnwrap(try full.all("//*[@id='usage']//*[@data-quota='projects']").first)
        XCTAssertTrue(atLimit.classes.contains("at") && atLimit.text.contains("2 / 2"), atLimit.html)

        // Four of five: amber.
        let raised = try await app.admin(.PUT, "accounts/\(accountId)/overrides", token: token, body: #"{"projects": 5}"#)
        XCTAssertEqual(raised.status, .ok, raised.body)
        for name in ["three", "four"] { _ = try await app.training(.POST, "projects?name=\(name)", key: key) }
        let near = try HTMLPage(try await c.get("/accounts/\(accountId)").body)
        let nearLimit = try XCTUnwrap(try near.all("//*[@id='usage']//*[@data-quota='projects']").first)
        XCTAssertTrue(nearLimit.classes.contains("near") && !nearLimit.classes.contains("at"), nearLimit.html)
        XCTAssertTrue(nearLimit.text.contains("4 / 5"), nearLimit.text)
        try await app.asyncShutdown()
    }

    /// The admin area: a tier added as a copy of another becomes a column with the copied
    /// limits; accounts are searched by owner; users are listed with their role; the audit
    /// log filters by change.
    func testAdminTierCopySearchUsersAndAuditFilter() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin(email: "ops@example.com")
        _ = try await app.makeAccount(token: token, email: "person@example.com", tier: "S0", name: "my-vision")
        let admin = try await signIn(app, "ops@example.com", password: "admin-password-1")
        let tiers = try await admin.get("/admin")
        let limits = try HTMLPage(tiers.body)
        // The S0 column's form as a browser sends it: its inputs (inside it or naming it), a
        // checkbox only when checked.
        let fields = try limits.all("//input[@name][@form='tier-form-S0' or ancestor::form[@id='tier-form-S0']]")
        var form: [String: String] = [:]
        for input in fields where input.attribute("name") != "_csrf" {
            if input.attribute("type") == "checkbox" && input.attribute("checked") == nil { continue }
            form[input.attribute("name")!] = input.attribute("value") ?? "on"
        }
        XCTAssertEqual(form["projects"], "100")
        form["projects"] = "123"
        let saved = try await admin.submit("/admin/tiers/S0", form)
        XCTAssertTrue(saved.body.contains("Saved tier S0"), saved.body)

        let added = try HTMLPage(try await admin.submit("/admin/tiers", ["code": "S1", "name": "Bigger", "copy": "S0"]).body)
        XCTAssertTrue(try added.id("flash").text.contains("Added tier S1"))
        XCTAssertEqual(try added.id("tier-S1").text, "S1 — Bigger")
        XCTAssertEqual(try added.id("S1-projects").attribute("value"), "123")

        let found = try HTMLPage(try await admin.get("/admin/accounts?q=person%40").body)
        let rows = try found.all("//*[@id='admin-account-list']/tbody/tr")
        XCTAssertEqual(rows.count, 1)
        XCTAssertTrue(rows.first.map { $0.text.contains("my-vision") && $0.text.contains("0 / 123") } ?? false, rows.first?.text ?? "")
        let none = try HTMLPage(try await admin.get("/admin/accounts?q=nobody-here").body)
        XCTAssertEqual(try none.all("//*[@id='admin-account-list']/tbody/tr").count, 0)

        let users = try HTMLPage(try await admin.get("/admin/users").body).id("users").text
        for expected in ["person@example.com", "ops@example.com", "Administrator"] {
            XCTAssertTrue(users.contains(expected), "\(expected) in \(users)")
        }
        let audit = try HTMLPage(try await admin.get("/admin/audit?action=tier.create").body)
        let changes = try audit.all("//*[@id='audit']/tbody/tr")
        XCTAssertEqual(changes.count, 1)
        XCTAssertTrue(changes.first.map { $0.text.contains("Tier added") && $0.text.contains("Tier S1") } ?? false, changes.first?.text ?? "")
        try await app.asyncShutdown()
    }
}
