@testable import App
import Fluent
import VisionEngine
import XCTVapor

/// Inputs that once took the whole process down, and stored text that once ran as script.
final class HardeningTests: XCTestCase {
    private func setUp(email: String = "h@example.com") async throws -> (Application, String, String, PortalClient) {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: email, tier: "S0")
        let key = trainingKey(acct)
        let c = PortalClient(app: app)
        try await c.get("/signin")
        try await c.post("/signin", ["email": email, "password": "password-123"])
        return (app, key, acct["id"] as! String, c)
    }

    func testCrashInputsAreRefusedWith400() async throws {
        let (app, key, accountID, c) = try await setUp()
        let project = try await app.training(.POST, "projects?name=crash", key: key).object["id"] as! String
        for continuation in ["-5", "-9223372036854775808", "9223372036854775807", "99999999999999999999", "abc", "1e3", " 1", "٣"] {
            let r = try await app.training(.POST, "projects/\(project)/predictions/query", key: key,
                                           body: #"{"continuation":"\#(continuation)"}"#)
            XCTAssertEqual(r.status, .badRequest, "continuation \(continuation): \(r.body)")
            XCTAssertEqual(r.code, "BadRequestPredictionInvalidQueryParameters")
        }
        let ok = try await app.training(.POST, "projects/\(project)/predictions/query", key: key, body: #"{"continuation":"0"}"#)
        XCTAssertEqual(ok.status, .ok, ok.body)

        let nested = String(repeating: "(", count: 20_000) + "a eq 'b'" + String(repeating: ")", count: 20_000)
        let deep = try await app.training(.GET, "projects/\(project)/images?$filter=\(urlEncode(nested))", key: key)
        XCTAssertEqual(deep.status, .badRequest)
        let shallow = String(repeating: "(", count: 17) + "a eq 'b'" + String(repeating: ")", count: 17)
        let _v1 = try await app.training(.GET, "projects/\(project)/images?$filter=\(urlEncode(shallow))", key: key).status
        XCTAssertEqual(_v1, .badRequest, "deeper than 16 is refused")
        let fine = String(repeating: "(", count: 16) + "a eq 'b'" + String(repeating: ")", count: 16)
        let _v2 = try await app.training(.GET, "projects/\(project)/images?$filter=\(urlEncode(fine))", key: key).status
        XCTAssertEqual(_v2, .ok)
        let long = Array(repeating: "a eq 'b'", count: 2_000).joined(separator: " and ")
        let _v3 = try await app.training(.GET, "projects/\(project)/images?$filter=\(urlEncode(long))", key: key).status
        XCTAssertEqual(_v3, .badRequest)

        let page = try await c.get("/accounts/\(accountID)/projects/\(project)?page=9223372036854775807")
        XCTAssertEqual(page.status, .ok)
        XCTAssertTrue(page.body.contains("Page 1 of 1"), String(page.body.prefix(200)))
        for raw in ["-9223372036854775808", "0", "abc", "1e99", ""] {
            let _v4 = try await c.get("/accounts/\(accountID)/projects/\(project)?page=\(raw)").status
            XCTAssertEqual(_v4, .ok, raw)
        }
        try await app.asyncShutdown()
    }

    /// Random and extreme values at every numeric query parameter: never a 5xx.
    func testNumericQueryParametersFuzz() async throws {
        let (app, key, accountID, c) = try await setUp()
        let project = try await app.training(.POST, "projects?name=fuzz", key: key).object["id"] as! String
        let iteration = "00000000-0000-0000-0000-000000000001"
        let extremes = ["-1", "0", "1", "255", "256", "257", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
                        "9223372036854775808", "-9223372036854775808", "1e308", "NaN", "inf", "-0", "0x10", "%00", "%FF",
                        String(repeating: "9", count: 400), "1.5", "true", ""]
        var generator = SystemRandomNumberGenerator()
        let random = (0..<12).map { _ in String(Int.random(in: Int.min...Int.max, using: &generator)) }
        let routes: [(HTTPMethod, String, [String])] = [
            (.GET, "projects/\(project)/images", ["take", "skip"]),
            (.GET, "projects/\(project)/images/tagged", ["take", "skip"]),
            (.GET, "projects/\(project)/images/untagged", ["take", "skip"]),
            (.GET, "projects/\(project)/images/count", ["take", "skip"]),
            (.GET, "projects/\(project)/iterations/\(iteration)/performance", ["threshold", "overlapThreshold"]),
            (.GET, "projects/\(project)/iterations/\(iteration)/performance/images", ["take", "skip", "threshold"]),
            (.POST, "projects/\(project)/train", ["reservedBudgetInHours"]),
        ]
        for (method, path, names) in routes {
            for name in names {
                for value in extremes + random {
                    let r = try await app.training(method, "\(path)?\(name)=\(value)", key: key)
                    XCTAssertLessThan(r.status.code, 500, "\(path)?\(name)=\(value): \(r.body.prefix(200))")
                    if r.status.code >= 400 { XCTAssertNotNil(r.code, "\(path)?\(name)=\(value)") }
                }
            }
        }
        for value in extremes + random {
            let body = #"{"maxCount":\#(Int(value) ?? 7),"continuation":"\#(value)"}"#
            let r = try await app.training(.POST, "projects/\(project)/predictions/query", key: key, body: body)
            XCTAssertLessThan(r.status.code, 500, body)
            let _v1 = try await c.get("/accounts/\(accountID)/projects/\(project)?page=\(value)").status.code
            XCTAssertLessThan(_v1, 500, value)
            let _v2 = try await app.call(.GET, "/blobs/\(String(repeating: "a", count: 64))?se=\(value)&sig=00").status.code
            XCTAssertLessThan(_v2, 500, value)
        }
        let _v3 = try await app.call(.GET, "/healthz").status
        XCTAssertEqual(_v3, .ok)
        try await app.asyncShutdown()
    }

    /// Names set with only a training key reach the owner's pages as text, never as markup.
    func testStoredNamesAreEscapedEverywhereAndPagesCarrySecurityHeaders() async throws {
        let (app, key, accountID, c) = try await setUp()
        let payload = #"x" onmouseover="alert(1)" '><script>alert(2)</script><img src=x onerror=alert(3)>"#
        let created = try await app.training(.POST, "projects?name=\(urlEncode(payload))&description=\(urlEncode(payload))", key: key)
        XCTAssertEqual(created.status, .ok, created.body)
        let project = created.object["id"] as! String
        _ = try await app.training(.POST, "projects/\(project)/tags?name=\(urlEncode(payload))", key: key)
        let base = "/accounts/\(accountID)/projects/\(project)"
        for path in ["/accounts/\(accountID)", base, "/projects", "\(base)/settings", "\(base)/performance", "\(base)/predictions"] {
            let page = try await c.get(path)
            XCTAssertEqual(page.status, .ok, path)
            XCTAssertFalse(page.body.contains("<script>alert"), path)
            XCTAssertFalse(page.body.contains("<img src=x"), path)
            // The payload may appear as text or inside a quoted, escaped attribute value;
            // every tag must still parse as name="value" pairs with no event handler.
            let tags = htmlTags(page.body)
            XCTAssertFalse(tags.isEmpty)
            for tag in tags {
                let names = attributeNames(tag)
                XCTAssertNotNil(names, "\(path): \(tag) does not parse as attributes")
                XCTAssertFalse(names?.contains { $0.hasPrefix("on") } ?? true, "\(path): \(tag)")
            }
            let csp = page.headers.first(name: "Content-Security-Policy") ?? ""
            XCTAssertTrue(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), csp)
            XCTAssertFalse(csp.contains("script-src 'self' 'unsafe-inline'"))
            XCTAssertEqual(page.headers.first(name: "X-Content-Type-Options"), "nosniff")
            XCTAssertEqual(page.headers.first(name: "X-Frame-Options"), "DENY")
            XCTAssertNotNil(page.headers.first(name: "Referrer-Policy"))
        }
        // No page of the portal carries inline script or inline event handlers.
        let page = try await c.get("/accounts/\(accountID)/projects/\(project)")
        let tags = htmlTags(page.body)
        XCTAssertTrue(tags.filter { $0.hasPrefix("<script") }.allSatisfy { $0.contains(" src=\"/js/") }, "\(tags.filter { $0.hasPrefix("<script") })")
        XCTAssertFalse(tags.contains(where: hasEventHandler), "\(tags.filter(hasEventHandler))")
        let api = try await app.training(.GET, "projects", key: key)
        XCTAssertEqual(api.headers.first(name: "X-Content-Type-Options"), "nosniff")
        try await app.asyncShutdown()
    }

    func testEscapeCoversAttributeBreakers() {
        XCTAssertEqual(H.escape(#"a"b'c<d>e&f"#), "a&quot;b&#39;c&lt;d&gt;e&amp;f")
        let html = PortalLayout.page(title: #"t" onload="x"#, user: nil, csrf: "", [])
        XCTAssertTrue(html.contains(#"<title>t" onload="x · Sightline</title>"#), "in text, quotes are harmless")
        XCTAssertFalse(html.contains("og:title"))
    }
}

/// The start tags of an HTML page (text cannot hold `<`: it is escaped).
func htmlTags(_ html: String) -> [String] {
    var tags: [String] = []
    var i = html.startIndex
    while let open = html[i...].firstIndex(of: "<") {
        let next = html.index(after: open)
        guard next < html.endIndex else { break }
        guard html[next].isLetter, let close = html[next...].firstIndex(of: ">") else { i = next; continue }
        tags.append(String(html[open...close]))
        i = html.index(after: close)
    }
    return tags
}

/// Whether a tag carries an inline event handler (` onclick=`, ` onerror=`, ...).
func hasEventHandler(_ tag: String) -> Bool {
    attributeNames(tag).map { $0.contains { $0.hasPrefix("on") } } ?? true
}

/// A start tag's attribute names, lowercased; nil when it is not `<name` followed by
/// bare or `name="value"` attributes whose values hold no `"`, `<` or `>` (a payload that
/// broke out of its attribute would not parse).
func attributeNames(_ tag: String) -> [String]? {
    var s = Substring(tag)
    guard s.hasPrefix("<") else { return nil }
    s = s.dropFirst()
    let element = s.prefix { $0.isLetter || $0.isNumber }
    guard !element.isEmpty else { return nil }
    s = s.dropFirst(element.count)
    var names: [String] = []
    while true {
        let spaces = s.prefix { $0.isWhitespace }
        s = s.dropFirst(spaces.count)
        if s == ">" || s == "/>" { return names }
        guard !spaces.isEmpty else { return nil }
        let name = s.prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ":" }
        guard !name.isEmpty else { return nil }
        s = s.dropFirst(name.count)
        names.append(name.lowercased())
        if s.hasPrefix("=\"") {
            s = s.dropFirst(2)
            guard let end = s.firstIndex(of: "\"") else { return nil }
            if s[..<end].contains(where: { $0 == "<" || $0 == ">" }) { return nil }
            s = s[s.index(after: end)...]
        }
    }
}

/// The smaller items: URL spellings, bidi names, admin token lifetime, the access log.
final class SmallerHardeningTests: XCTestCase {
    func testEveryLoopbackAndDocumentationSpellingIsRefused() {
        let policy = URLPolicy(enabled: true, allowLoopback: false)
        // Numeric literals only: getaddrinfo parses them without any lookup.
        for url in ["http://[::ffff:0:127.0.0.1]/", "http://[::ffff:127.0.0.1]/", "http://[::127.0.0.1]/", "http://[::ffff:7f00:1]/",
                    "http://[2002:7f00:1::]/", "http://[2002:a9fe:a9fe::1]/", "http://[2001:0:4136:e378::1]/",
                    "http://192.0.2.1/", "http://198.51.100.3/", "http://203.0.113.7/", "http://[2001:db8::1]/",
                    "http://[::ffff:0:169.254.169.254]/", "http://0.0.0.0/"] {
            guard case .failure(.forbiddenAddress) = policy.check(url) else { return XCTFail("\(url) must be refused") }
        }
        XCTAssertTrue(policy.permitted([8, 8, 4, 4]))
    }

    func testBidiControlCharactersAreRefusedInNames() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "bidi@example.com", tier: "S0"))
        for name in ["invoice\u{202E}gpj.exe", "a\u{2066}b", "x\u{200F}y"] {
            let r = try await app.training(.POST, "projects?name=\(urlEncode(name))", key: key)
            XCTAssertEqual(r.code, "BadRequestProjectName", name.debugDescription)
        }
        let p = try await app.training(.POST, "projects?name=plain", key: key).object["id"] as! String
        let _v1 = try await app.training(.POST, "projects/\(p)/tags?name=\(urlEncode("t\u{202D}x"))", key: key).code
        XCTAssertEqual(_v1, "BadRequestTagName")
        let _v2 = try await app.training(.POST, "projects?name=\(urlEncode("عربي"))", key: key).status
        XCTAssertEqual(_v2, .ok, "right-to-left text itself is fine")
        try await app.asyncShutdown()
    }

    func testAdminTokensExpireAndCanBeRevoked() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let _v1 = try await app.admin(.GET, "tiers", token: token).status
        XCTAssertEqual(_v1, .ok)
        let row = try await AdminToken.query(on: app.db).first()!
        XCTAssertNotNil(row.expiresAt)
        row.expiresAt = Date().addingTimeInterval(-1)
        try await row.save(on: app.db)
        let _v2 = try await app.admin(.GET, "tiers", token: token).status
        XCTAssertEqual(_v2, .unauthorized, "expired")
        let second = try await UserService(db: app.db, threadPool: app.threadPool).createAdmin(email: "admin@example.com", password: "admin-password-1")
        let _v3 = try await app.admin(.GET, "tiers", token: second).status
        XCTAssertEqual(_v3, .ok)
        let revoked = try await RevokeAdminTokenCommand.revoke(token: second, email: nil, on: app.db)
        XCTAssertEqual(revoked, 1)
        let _v4 = try await app.admin(.GET, "tiers", token: second).status
        XCTAssertEqual(_v4, .unauthorized, "revoked")
        try await app.asyncShutdown()
    }

    final class Lines: @unchecked Sendable { var all: [String] = [] }
    struct Capture: LogHandler {
        let lines: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
        func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            let all = metadata.merging(extra ?? [:]) { $1 }
            lines.all.append("\(message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
    }

    func testAccessLogHasOneLinePerRequestAndNoKeys() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "log@example.com", tier: "S0")
        let key = trainingKey(acct)
        let lines = Lines()
        app.logger = Logger(label: "test") { _ in Capture(lines: lines) }
        _ = try await app.training(.GET, "projects", key: key)
        _ = try await app.training(.GET, "projects/\(UUID().uuidString)", key: key)
        let requests = lines.all.filter { $0.hasPrefix("request ") && $0.contains(" route=") }
        XCTAssertEqual(requests.count, 2, lines.all.joined(separator: "\n"))
        XCTAssertTrue(requests[0].contains("route=/customvision/:version/training/projects"), requests[0])
        XCTAssertTrue(requests[0].contains("status=200") && requests[0].contains("method=GET") && requests[0].contains("duration_ms="))
        XCTAssertTrue(requests[0].contains("account=\(acct["id"] as! String)"))
        XCTAssertTrue(requests[1].contains("status=404"))
        XCTAssertFalse(lines.all.contains { $0.contains(key) || $0.contains(token) }, "no key or token is ever logged")
        try await app.asyncShutdown()
    }
}
