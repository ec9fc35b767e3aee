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

    func testFailedSignInsSlowDownPerEmailAndClientWithoutLockingTheOwnerOut() async throws {
        let app = try await makeApp()
        let users = UserService(db: app.db, threadPool: app.threadPool)
        _ = try await users.create(email: "t@example.com", password: "right-password")
        // 30 concurrent wrong passwords from one client: exactly 5 are checked.
        let outcomes = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<30 {
                group.addTask {
                    do { _ = try await users.signIn(email: "t@example.com", password: "wrong-password", client: "203.0.113.9"); return 200 }
                    catch let e as CVError { return Int(e.status.code) }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.filter { $0 == 401 }.count, 5, "\(outcomes)")
        XCTAssertEqual(outcomes.filter { $0 == 429 }.count, 25)
        do {
            _ = try await users.signIn(email: "t@example.com", password: "right-password", client: "203.0.113.9")
            XCTFail("the attacker's own client is slowed down")
        } catch let e as CVError {
            XCTAssertEqual(e.status, .tooManyRequests)
            XCTAssertNotNil(e.headers["Retry-After"].first.flatMap(Int.init))
        }
        // The owner, from her own address, is not locked out.
        let owner = try await users.signIn(email: "t@example.com", password: "right-password", client: "198.51.100.7")
        XCTAssertEqual(owner.email, "t@example.com")
        // A minute later the attacker's pair has one more try (a slow-down, not a lock-out).
        let later = Date().addingTimeInterval(61)
        let _v1 = try await AttemptThrottle(db: app.db).take("signin:t@example.com|203.0.113.9", AttemptThrottle.signInPair, now: later)
        XCTAssertNil(_v1)
        try await app.asyncShutdown()
    }

    /// Guesses from many addresses drain the email's bucket, but it refuses only clients
    /// that have failed for that email: the owner's right password still works, every time.
    func testGuessesFromRotatingAddressesNeverRefuseTheOwner() async throws {
        let app = try await makeApp()
        let users = UserService(db: app.db, threadPool: app.threadPool)
        _ = try await users.create(email: "o@example.com", password: "right-password")
        var statuses: [Int] = []
        for client in 0..<12 {
            for _ in 0..<5 {
                do { _ = try await users.signIn(email: "o@example.com", password: "wrong-password", client: "203.0.113.\(client)") }
                catch let e as CVError { statuses.append(Int(e.status.code)) }
            }
        }
        XCTAssertTrue(statuses.contains(429), "the email's bucket slows the guessing clients down: \(statuses)")
        for _ in 0..<6 {
            let owner = try await users.signIn(email: "o@example.com", password: "right-password", client: "198.51.100.7")
            XCTAssertEqual(owner.email, "o@example.com")
        }
        // A guessing client that has failed is still refused by the email's bucket.
        do {
            _ = try await users.signIn(email: "o@example.com", password: "right-password", client: "203.0.113.11")
            XCTFail("a client that failed for this email is held to its buckets")
        } catch let e as CVError { XCTAssertEqual(e.status, .tooManyRequests) }
        try await app.asyncShutdown()
    }

    func testFailedSignInsAreThrottledPerClientAndThroughTheForm() async throws {
        let app = try await makeApp()
        let c = PortalClient(app: app)
        try await c.get("/signin")
        var statuses: [UInt] = []
        for i in 0..<(Int(AttemptThrottle.signInClient.capacity) + 1) {
            statuses.append(try await c.post("/signin", ["email": "nobody\(i)@example.com", "password": "wrong-password"]).status.code)
        }
        XCTAssertEqual(statuses.filter { $0 == 401 }.count, Int(AttemptThrottle.signInClient.capacity))
        let r = try await c.post("/signin", ["email": "fresh@example.com", "password": "whatever"])
        XCTAssertEqual(r.status, .tooManyRequests)
        XCTAssertTrue(r.body.contains("Too many attempts"))
        try await app.asyncShutdown()
    }

    func testClientAddressComesFromATrustedProxyOnly() {
        var s = Settings.fromEnvironment()
        let h: HTTPHeaders = ["X-Forwarded-For": "6.6.6.6, 203.0.113.5"]
        XCTAssertEqual(ClientAddress.resolve(peer: "127.0.0.1", headers: h, settings: s), "127.0.0.1", "no header configured")
        s.trustedProxyHeader = "X-Forwarded-For"
        XCTAssertEqual(ClientAddress.resolve(peer: "127.0.0.1", headers: h, settings: s), "203.0.113.5", "the proxy's own entry")
        XCTAssertEqual(ClientAddress.resolve(peer: "192.0.2.1", headers: h, settings: s), "192.0.2.1", "not a trusted proxy")
        XCTAssertEqual(ClientAddress.resolve(peer: "127.0.0.1", headers: ["X-Forwarded-For": "<script>"], settings: s), "127.0.0.1")
    }

    func testSignUpIsThrottledAndDoesNotRevealTakenEmails() async throws {
        let app = try await makeApp()
        let users = UserService(db: app.db, threadPool: app.threadPool)
        _ = try await users.signUp(email: "taken@example.com", password: "password-1", client: "192.0.2.50")
        do {
            _ = try await users.signUp(email: "taken@example.com", password: "password-2", client: "192.0.2.50")
            XCTFail("a taken email is refused")
        } catch let e as CVError {
            XCTAssertEqual(e.status, .badRequest)
            XCTAssertFalse(e.message.lowercased().contains("exists"))
        }
        var refused = 0
        for i in 0..<6 {
            do { _ = try await users.signUp(email: "n\(i)@example.com", password: "password-1", client: "192.0.2.50") }
            catch let e as CVError where e.status == .tooManyRequests { refused += 1 }
        }
        XCTAssertEqual(refused, 3, "five sign-ups per client, then one each five minutes")
        _ = try await users.signUp(email: "elsewhere@example.com", password: "password-1", client: "192.0.2.51")
        try await app.asyncShutdown()
    }

    func testSessionsExistOnlyForSignedInUsersAndExpireServerSide() async throws {
        let app = try await makeApp { $0.sessionIdleSeconds = 3600 }
        let c = PortalClient(app: app)
        try await c.get("/signin")
        try await c.get("/signup")
        let _v0 = try await SessionRecord.query(on: app.db).count()
        XCTAssertEqual(_v0, 0, "visitors get no session")
        XCTAssertNil(c.cookies["sightline-session"])
        let up = try await c.post("/signup", ["email": "s@example.com", "password": "long-password"])
        XCTAssertEqual(up.status, .seeOther)
        let _v1 = try await SessionRecord.query(on: app.db).count()
        XCTAssertEqual(_v1, 1)
        let _v2 = try await c.get("/accounts").status
        XCTAssertEqual(_v2, .ok)
        // Idle past the limit: the server ends it, whatever the cookie says.
        let row = try await SessionRecord.query(on: app.db).first()!
        row.data[SessionClock.seen] = String(Int(Date().timeIntervalSince1970 - 7200))
        try await row.save(on: app.db)
        let after = try await c.get("/accounts")
        XCTAssertEqual(after.status, .seeOther, "signed out")
        let _v3 = try await SessionRecord.query(on: app.db).count()
        XCTAssertEqual(_v3, 0)
        // The sweep removes sessions nobody comes back to.
        try await c.get("/signin")
        _ = try await c.post("/signin", ["email": "s@example.com", "password": "long-password"])
        let stale = try await SessionRecord.query(on: app.db).first()!
        stale.data[SessionClock.created] = String(Int(Date().timeIntervalSince1970 - 8 * 86_400))
        try await stale.save(on: app.db)
        let _v4 = try await SessionClock.sweep(db: app.db, settings: app.settings)
        XCTAssertEqual(_v4, 1)
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
