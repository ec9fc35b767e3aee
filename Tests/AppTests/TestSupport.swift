@testable import App
import Fluent
import Foundation
import SQLKit
import XCTVapor

/// Where the tests run: SQLite in a temp dir by default, PostgreSQL when
/// `TEST_DATABASE_URL` is set (the `make test` harness sets it for the second pass).
enum TestDatabase {
    static var postgresURL: String? {
        ProcessInfo.processInfo.environment["TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }
    static var name: String { postgresURL == nil ? "sqlite" : "postgresql" }
}

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A fresh application on an empty database.
func makeApp(_ adjust: (inout Settings) -> Void = { _ in }) async throws -> Application {
    let app = try await Application.make(.testing)
    var s = Settings.fromEnvironment()
    // One engine thread and two decode threads unless the environment says otherwise, as on
    // the 2-core machines the suite's thresholds were measured on: the thread count decides
    // the order in which training sums, and so the trained weights.
    let env = ProcessInfo.processInfo.environment
    if env["ENGINE_THREADS"] == nil { s.engineThreads = 1 }
    if env["DECODE_THREADS"] == nil { s.decodeThreads = 2 }
    s.dataDir = NSTemporaryDirectory() + "sightline-test-" + UUID().uuidString
    s.databaseURL = TestDatabase.postgresURL
    s.configDir = repoRoot + "/config"
    s.publicURL = "http://127.0.0.1:8080"
    adjust(&s)
    app.settings = s
    // Registered before configure: shutdown calls handlers in reverse, so this runs last.
    app.lifecycle.use(TemporaryDataDir(path: s.dataDir))
    app.logger.logLevel = .warning
    try await configure(app)
    if TestDatabase.postgresURL != nil {
        let sql = app.db as! SQLDatabase
        try await sql.raw("DROP SCHEMA public CASCADE").run()
        try await sql.raw("CREATE SCHEMA public").run()
    }
    try await app.autoMigrate()
    return app
}

/// Removes a test app's data directory once the app has shut down.
struct TemporaryDataDir: LifecycleHandler {
    let path: String
    func shutdown(_ application: Application) {
        try? FileManager.default.removeItem(atPath: path)
    }
}

struct APIResponse {
    let status: HTTPStatus
    let headers: HTTPHeaders
    let body: String
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }
    var object: [String: Any] { json as? [String: Any] ?? [:] }
    var array: [[String: Any]] { json as? [[String: Any]] ?? [] }
    var code: String? { object["code"] as? String }
}

extension Application {
    func call(_ method: HTTPMethod, _ path: String, headers: HTTPHeaders = [:], body: String? = nil,
              contentType: String? = "application/json; charset=utf-8") async throws -> APIResponse {
        var h = headers
        if body != nil, let contentType { h.replaceOrAdd(name: .contentType, value: contentType) }
        let res = try await testable().sendRequest(method, path, headers: h,
                                                   body: body.map { ByteBuffer(string: $0) })
        return APIResponse(status: res.status, headers: res.headers, body: res.body.string)
    }

    func training(_ method: HTTPMethod, _ path: String, key: String, body: String? = nil,
                  version: String = "v3.4-preview") async throws -> APIResponse {
        try await call(method, "/customvision/\(version)/training/\(path)", headers: ["Training-Key": key], body: body)
    }

    /// The iteration's status once it has left Training (polled every 0.1 s, at most 90 s).
    func trainedStatus(project: String, iteration: String, key: String) async throws -> String {
        var status = "Training"
        for _ in 0..<900 where status == "Training" {
            try await Task.sleep(nanoseconds: 100_000_000)
            status = try await training(.GET, "projects/\(project)/iterations/\(iteration)", key: key).object["status"] as? String ?? "?"
        }
        return status
    }

    /// An admin user and its API token.
    func makeAdmin(email: String = "admin@example.com") async throws -> String {
        try await UserService(db: db, threadPool: threadPool).createAdmin(email: email, password: "admin-password-1")
    }

    func admin(_ method: HTTPMethod, _ path: String, token: String, body: String? = nil) async throws -> APIResponse {
        try await call(method, "/admin/api/\(path)", headers: ["Authorization": "Bearer \(token)"], body: body)
    }

    /// A user with one account on `tier`; returns the account's JSON (keys included). Tests
    /// call the Training API faster than a tier's training rate allows: the account's rate
    /// is lifted unless `trainingRateLimited`.
    func makeAccount(token: String, email: String, tier: String, name: String = "acct",
                     trainingRateLimited: Bool = false) async throws -> [String: Any] {
        let u = try await admin(.POST, "users", token: token, body: #"{"email":"\#(email)","password":"password-123"}"#)
        XCTAssert(u.status == .created || u.status == .conflict, u.body)
        let a = try await admin(.POST, "accounts", token: token,
                                body: #"{"ownerEmail":"\#(email)","name":"\#(name)","tier":"\#(tier)"}"#)
        XCTAssertEqual(a.status, .created, a.body)
        if !trainingRateLimited, let id = a.object["id"] as? String {
            let lifted = try await admin(.PUT, "accounts/\(id)/overrides", token: token, body: #"{"trainingTransactionsPerSecond": "unlimited"}"#)
            XCTAssertEqual(lifted.status, .ok, lifted.body)
        }
        return a.object
    }
}

func trainingKey(_ account: [String: Any]) -> String { (account["trainingKeys"] as! [String])[0] }
func predictionKey(_ account: [String: Any]) -> String { (account["predictionKeys"] as! [String])[0] }

func urlEncode(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s
}

/// A browser-like portal client: keeps the session cookie and the form's CSRF token.
final class PortalClient {
    let app: Application
    var cookies: [String: String] = [:]
    var cookie: String? { cookies.isEmpty ? nil : cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
    var csrf: String?

    init(app: Application) { self.app = app }

    @discardableResult
    func get(_ path: String) async throws -> APIResponse {
        let res = try await app.call(.GET, path, headers: cookieHeader(), body: nil)
        absorb(res)
        return res
    }

    @discardableResult
    func post(_ path: String, _ form: [String: String], csrf override: String? = nil) async throws -> APIResponse {
        var fields = form
        fields["_csrf"] = override ?? csrf ?? ""
        let body = fields.map { "\(urlEncode($0.key))=\(urlEncode($0.value))" }.joined(separator: "&")
        let res = try await app.call(.POST, path, headers: cookieHeader(), body: body,
                                     contentType: "application/x-www-form-urlencoded")
        absorb(res)
        return res
    }

    /// A form sent the way a browser sends it: after post/redirect/get, the page landed on.
    @discardableResult
    func submit(_ path: String, _ form: [String: String]) async throws -> APIResponse {
        let res = try await post(path, form)
        guard res.status == .seeOther || res.status == .found, let location = res.headers.first(name: .location) else { return res }
        return try await get(location)
    }

    private func cookieHeader() -> HTTPHeaders {
        cookie.map { ["Cookie": $0] } ?? [:]
    }

    private func absorb(_ res: APIResponse) {
        for set in res.headers[.setCookie] {
            guard let pair = set.split(separator: ";").first, let eq = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<eq]), value = String(pair[pair.index(after: eq)...])
            if set.lowercased().contains("expires=thu, 01 jan 1970") || value.isEmpty { cookies[name] = nil } else { cookies[name] = value }
        }
        if let r = res.body.range(of: #"name="_csrf" value=""#) {
            csrf = String(res.body[r.upperBound...].prefix { $0 != "\"" })
        }
    }
}

extension Iteration {
    /// An iteration row written straight to the database, for tests that need one to hang
    /// a recorded training set or predictions on without training.
    static func forTest(project: Project, number: Int = 1, status: String = "Completed", on db: Database) async throws -> Iteration {
        let it = Iteration()
        it.projectID = project.id!; it.number = number; it.name = "Iteration \(number)"; it.status = status; it.trainingType = "Regular"
        it.budgetHours = 0; it.domainID = project.domainID; it.fingerprint = ""; it.progress = 0; it.isDefault = false
        try await it.create(on: db)
        return it
    }
}

