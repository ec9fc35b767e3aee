@testable import App
import Fluent
import XCTVapor

/// Quick tests pay like predictions; request bodies are read only as far as they may go.
final class RequestLimitTests: XCTestCase {
    private func trained() async throws -> (Application, String, String, String, String) {
        // Stored predictions that make room free their blobs without the usual grace.
        let app = try await makeApp { $0.blobFreeGraceSeconds = 0 }
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "limits@example.com", tier: "S0")
        let key = trainingKey(acct)
        let project = try await app.training(.POST, "projects?name=q&classificationType=Multiclass", key: key).object["id"] as! String
        let a = try await app.training(.POST, "projects/\(project)/tags?name=colour", key: key).object["id"] as! String
        let b = try await app.training(.POST, "projects/\(project)/tags?name=grey", key: key).object["id"] as! String
        _ = try await app.upload(project, key: key, try distinctImages(5), tagIds: [a])
        _ = try await app.upload(project, key: key, try greyImages(5), tagIds: [b])
        let it = try await app.training(.POST, "projects/\(project)/train", key: key).object["id"] as! String
        for _ in 0..<600 {
            let s = try await app.training(.GET, "projects/\(project)/iterations/\(it)", key: key).object["status"] as? String
            if s != "Training" { XCTAssertEqual(s, "Completed"); break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return (app, token, key, acct["id"] as! String, project)
    }

    private func quickTest(_ app: Application, _ project: String, key: String, _ data: Data) async throws -> APIResponse {
        let res = try await app.testable().sendRequest(.POST, "/customvision/v3.4-preview/training/projects/\(project)/quicktest/image",
                                                       headers: ["Training-Key": key, "Content-Type": "application/octet-stream"],
                                                       body: ByteBuffer(data: data))
        return APIResponse(status: res.status, headers: res.headers, body: res.body.string)
    }

    func testQuickTestsCountAsPredictionsAndStoreAtMostTheProjectLimit() async throws {
        let (app, token, key, account, project) = try await trained()
        let images = try distinctImages(6, from: 20)
        _ = try await app.admin(.PUT, "accounts/\(account)/overrides", token: token,
                                body: #"{"storedPredictionsPerProject": 3, "transactionsPerSecond": "unlimited"}"#)
        for image in images.prefix(5) {
            let r = try await quickTest(app, project, key: key, image)
            XCTAssertEqual(r.status, .ok, r.body)
        }
        await app.blobReclaimer.drain()
        let stored = try await StoredPrediction.query(on: app.db).count()
        XCTAssertEqual(stored, 3, "the oldest stored predictions make room for new ones")
        let usage = try await app.admin(.GET, "accounts/\(account)/usage", token: token).object
        let lines = usage["quotas"] as! [[String: Any]]
        XCTAssertEqual(lines.first { $0["name"] as? String == "predictionsPerMonth" }?["used"] as? Int, 5)
        XCTAssertEqual(lines.first { $0["name"] as? String == "storedPredictionsPerProject" }?["used"] as? Int, 3)

        // The monthly quota refuses the next one.
        _ = try await app.admin(.PUT, "accounts/\(account)/overrides", token: token, body: #"{"predictionsPerMonth": 5}"#)
        let over = try await quickTest(app, project, key: key, images[5])
        XCTAssertEqual(over.code, "BadRequestExceededQuota", over.body)

        // The TPS limit applies: a burst past it is refused with 429 and Retry-After.
        _ = try await app.admin(.PUT, "accounts/\(account)/overrides", token: token,
                                body: #"{"predictionsPerMonth": "unlimited", "transactionsPerSecond": 2}"#)
        let burst = try await withThrowingTaskGroup(of: APIResponse.self) { group in
            for i in 0..<16 { group.addTask { try await self.quickTest(app, project, key: key, images[i % 6]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let refused = burst.filter { $0.status == .tooManyRequests }
        XCTAssertGreaterThanOrEqual(refused.count, 4, burst.map { "\($0.status.code)" }.joined(separator: ","))
        XCTAssertTrue(refused.allSatisfy { $0.headers.first(name: "Retry-After") != nil && $0.code == "TooManyRequests" })
        try await app.asyncShutdown()
    }

    /// A sequential script slightly over the training rate is paced, never refused: each
    /// call past the limit waits for the next second (Microsoft's SDK does not retry a 429).
    func testASequentialScriptOverTheTrainingRateIsPacedNotRefused() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "paced@example.com", tier: "S0", trainingRateLimited: true)
        _ = try await app.admin(.PUT, "accounts/\(acct["id"] as! String)/overrides", token: token, body: #"{"trainingTransactionsPerSecond": 3}"#)
        let key = trainingKey(acct)
        for i in 0..<10 {
            let r = try await app.training(.POST, "projects?name=paced\(i)", key: key)
            XCTAssertEqual(r.status, .ok, "call \(i): \(r.body)")
        }
        try await app.asyncShutdown()
    }

    /// The Training API has its tier's own rate (10 calls per second on S0, as Azure
    /// documents): a burst past it gets 429 with Retry-After; an override lifts it.
    func testTrainingCallsAreRateLimitedPerTier() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let s0 = try await app.admin(.GET, "tiers", token: token).array.first { $0["code"] as? String == "S0" }
        XCTAssertEqual(s0?["trainingTransactionsPerSecond"] as? Int, 10, "\(s0 ?? [:])")
        let acct = try await app.makeAccount(token: token, email: "rate@example.com", tier: "S0", trainingRateLimited: true)
        let key = trainingKey(acct)
        func burst(_ n: Int) async throws -> [APIResponse] {
            try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for _ in 0..<n { group.addTask { try await app.training(.GET, "projects", key: key) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        // 50 at once: at most 10 admitted and 10 paced in each of the (at most two) one-second windows they span.
        let limited = try await burst(50)
        let refused = limited.filter { $0.status == .tooManyRequests }
        XCTAssertGreaterThanOrEqual(refused.count, 10, limited.map { "\($0.status.code)" }.joined(separator: ","))
        XCTAssertTrue(refused.allSatisfy { $0.headers.first(name: "Retry-After") == "1" && $0.code == "TooManyRequests" })
        XCTAssertTrue(limited.allSatisfy { $0.status == .ok || $0.status == .tooManyRequests })

        _ = try await app.admin(.PUT, "accounts/\(acct["id"] as! String)/overrides", token: token,
                                body: #"{"trainingTransactionsPerSecond": "unlimited"}"#)
        let lifted = try await burst(30)
        XCTAssertTrue(lifted.allSatisfy { $0.status == .ok }, lifted.map { "\($0.status.code)" }.joined(separator: ","))
        try await app.asyncShutdown()
    }

    func testMultipartStopsAtThe65thPartAndOversizedBodiesAreRefused() async throws {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "body@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=b", key: key).object["id"] as! String
        // 200,000 empty parts (about 10 MB): refused as a batch, nothing stored.
        var body = ByteBuffer()
        for _ in 0..<200_000 { body.writeString("--b\r\n\r\n\r\n") }
        body.writeString("--b--\r\n")
        let start = Date()
        let res = try await app.testable().sendRequest(.POST, "/customvision/v3.4-preview/training/projects/\(project)/images",
                                                       headers: ["Training-Key": key, "Content-Type": "multipart/form-data; boundary=b"],
                                                       body: body)
        XCTAssertEqual(res.status, .badRequest)
        XCTAssertEqual(APIResponse(status: res.status, headers: res.headers, body: res.body.string).code, "BadRequestImageBatch")
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        let _v1 = try await ImageRecord.query(on: app.db).count()
        XCTAssertEqual(_v1, 0)
        // A raw image body over 6 MB is refused from its length.
        var big = try imageFixture("landscape.jpg")
        big.append(Data(count: 7 * 1024 * 1024))
        let raw = try await app.testable().sendRequest(.POST, "/customvision/v3.4-preview/training/projects/\(project)/images",
                                                       headers: ["Training-Key": key, "Content-Type": "application/octet-stream",
                                                                 "Content-Length": String(big.count)],
                                                       body: ByteBuffer(data: big))
        XCTAssertEqual(raw.status, .payloadTooLarge)
        XCTAssertEqual(APIResponse(status: raw.status, headers: raw.headers, body: raw.body.string).code, "BadRequestImageSizeBytes")
        // 64 images in one multipart batch are still accepted.
        let ok = try await app.upload(project, key: key, try distinctImages(64))
        XCTAssertEqual(ok.status, .ok, String(ok.body.prefix(300)))
        try await app.asyncShutdown()
    }

    func testUploadGateRefusesAThirdLargeUploadOfOneAccount() async throws {
        let app = try await makeApp()
        let gate = UploadGate(perAccount: 2)
        let account = UUID(), other = UUID()
        let req = Request(application: app, method: .POST, url: "/", headers: ["Content-Length": "100000000"], on: app.eventLoopGroup.next())
        let release = AsyncStream<Void>.makeStream()
        let holders = (0..<2).map { _ in Task { try await gate.admit(req, account: account) { for await _ in release.stream { break } } } }
        try await Task.sleep(nanoseconds: 200_000_000)
        do {
            try await gate.admit(req, account: account) {}
            XCTFail("a third large upload of one account must wait its turn")
        } catch let e as CVError { XCTAssertEqual(e.status, .tooManyRequests) }
        try await gate.admit(req, account: other) {}   // other tenants are not affected
        let small = Request(application: app, method: .POST, url: "/", headers: ["Content-Length": "1000"], on: app.eventLoopGroup.next())
        try await gate.admit(small, account: account) {}   // small bodies are never gated
        release.continuation.finish()
        for h in holders { try await h.value }
        try await gate.admit(req, account: account) {}
        try await app.asyncShutdown()
    }
}
