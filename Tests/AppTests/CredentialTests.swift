@testable import App
import CArgon2
import Fluent
import SQLKit
import XCTVapor

/// Passwords and keys are never stored in plain text; Argon2id hashes verify with
/// libargon2; failed sign-ins are throttled; forms need the CSRF token.
final class CredentialTests: XCTestCase {
    func testNoSecretInPlainTextAndHashesVerifyWithLibargon2() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "secret@example.com", tier: "S0")
        let secrets = (acct["trainingKeys"] as! [String]) + (acct["predictionKeys"] as! [String])
            + ["password-123", "admin-password-1", token]

        // Every text cell of every table.
        let sql = app.db as! SQLDatabase
        let tables = ["users", "accounts", "account_keys", "admin_tokens", "audit_log", "_fluent_sessions", "tiers"]
        var dump = ""
        for table in tables {
            for row in try await sql.raw("SELECT * FROM \(unsafeRaw: table)").all() {
                for column in row.allColumns {
                    if let s = try? row.decode(column: column, as: String.self) { dump += s + "\n" }
                }
            }
        }
        XCTAssertFalse(dump.isEmpty)
        for s in secrets { XCTAssertFalse(dump.contains(s), "a secret is stored in plain text") }

        let user = try await User.query(on: app.db).filter(\.$email == "secret@example.com").first()!
        XCTAssertTrue(user.passwordHash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"), user.passwordHash)
        // Verified by libargon2 directly, not through our wrapper.
        let pwd = Array("password-123".utf8)
        XCTAssertEqual(argon2_verify(user.passwordHash, pwd, pwd.count, Argon2_id), ARGON2_OK.rawValue)
        let wrong = Array("password-124".utf8)
        XCTAssertNotEqual(argon2_verify(user.passwordHash, wrong, wrong.count, Argon2_id), ARGON2_OK.rawValue)
        // Keys are stored as their SHA-256.
        let k = try await AccountKey.query(on: app.db).filter(\.$keyHash == AccountKey.hash(secrets[0])).first()
        XCTAssertNotNil(k)
        XCTAssertEqual(k?.hint, String(secrets[0].suffix(4)))
        try await app.asyncShutdown()
    }

    func testFailedSignInsAreThrottledPerEmail() async throws {
        let app = try await makeApp()
        let c = PortalClient(app: app)
        try await c.get("/signup")
        let _v1 = try await c.post("/signup", ["email": "t@example.com", "password": "right-password"]).status
        XCTAssertEqual(_v1, .seeOther)
        try await c.post("/signout", [:])
        try await c.get("/signin")
        for _ in 0..<UserService.maxFailuresPerEmail {
            let r = try await c.post("/signin", ["email": "t@example.com", "password": "wrong-password"])
            XCTAssertEqual(r.status, .unauthorized)
            XCTAssertTrue(r.body.contains("Wrong email or password"))
        }
        let blocked = try await c.post("/signin", ["email": "t@example.com", "password": "right-password"])
        XCTAssertEqual(blocked.status, .tooManyRequests)
        XCTAssertTrue(blocked.body.contains("Too many failed sign-ins"))
        // Another email from the same client is not yet blocked (per-client allows more).
        let _v2 = try await c.post("/signin", ["email": "other@example.com", "password": "x-password"]).status
        XCTAssertEqual(_v2, .unauthorized)
        try await app.asyncShutdown()
    }

    func testFailedSignInsAreThrottledPerClient() async throws {
        let app = try await makeApp()
        let c = PortalClient(app: app)
        try await c.get("/signin")
        for i in 0..<UserService.maxFailuresPerClient {
            _ = try await c.post("/signin", ["email": "nobody\(i)@example.com", "password": "wrong-password"])
        }
        let r = try await c.post("/signin", ["email": "fresh@example.com", "password": "whatever"])
        XCTAssertEqual(r.status, .tooManyRequests)
        try await app.asyncShutdown()
    }

    func testFormsWithoutCSRFTokenAreRefused() async throws {
        let app = try await makeApp()
        let c = PortalClient(app: app)
        try await c.get("/signup")
        let _v3 = try await c.post("/signup", ["email": "c@example.com", "password": "long-password"], csrf: "forged").status
        XCTAssertEqual(_v3, .forbidden)
        let _v4 = try await User.query(on: app.db).count()
        XCTAssertEqual(_v4, 0)
        let _v5 = try await c.post("/signup", ["email": "c@example.com", "password": "long-password"]).status
        XCTAssertEqual(_v5, .seeOther)
        try await c.get("/accounts")
        let _v6 = try await c.post("/accounts", ["name": "forged", "tier": "S0"], csrf: "").status
        XCTAssertEqual(_v6, .forbidden)
        let _v7 = try await Account.query(on: app.db).count()
        XCTAssertEqual(_v7, 0)
        try await app.asyncShutdown()
    }
}
