@testable import App
import Foundation
import NIOCore
import XCTVapor

/// A structured fuzzer of what faces the internet: Content-Type and boundary parameters,
/// multipart, URL-encoded and JSON bodies, query strings, `$filter` and path segments,
/// sent to the portal's forms and the APIs' upload, prediction and listing routes. Nothing
/// may answer 5xx or stop the server. Seeded, so a failure replays: `FUZZ_SEED` picks the
/// run, `FUZZ_ITERATIONS` its length (`make fuzz` runs it long). Inputs that once crashed
/// the server live in `Tests/Fixtures/fuzz-corpus` and are replayed first, every run.
final class FuzzTests: XCTestCase {
    struct Input: CustomStringConvertible {
        var method: HTTPMethod, path: String, headers: HTTPHeaders, body: [UInt8]
        var description: String {
            "\(method) \(path.prefix(300)) \(headers.map { "\($0.name): \($0.value.prefix(120))" }) body \(body.count) bytes: \(String(decoding: body.prefix(200), as: UTF8.self).debugDescription)"
        }
    }

    func testParsersFacingTheInternetNeverFail() async throws {
        let env = ProcessInfo.processInfo.environment
        let iterations = env["FUZZ_ITERATIONS"].flatMap(Int.init) ?? 400
        let seed = env["FUZZ_SEED"].flatMap(UInt64.init) ?? 20261207
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "fuzz@example.com", tier: "S0")
        _ = try await app.admin(.PUT, "accounts/\(acct["id"] as! String)/overrides", token: token, body: #"{"transactionsPerSecond": "unlimited"}"#)
        let key = trainingKey(acct), pkey = predictionKey(acct)
        let project = try await app.training(.POST, "projects?name=fuzz", key: key).object["id"] as! String
        let c = PortalClient(app: app)
        try await c.get("/signin")
        try await c.post("/signin", ["email": "fuzz@example.com", "password": "password-123"])
        var g = FuzzInputs(seed: seed, project: project, account: acct["id"] as! String, trainingKey: key, predictionKey: pkey,
                           cookie: c.cookie ?? "", csrf: c.csrf ?? "")

        var tried = 0
        for input in try Self.corpus(project: project, trainingKey: key, predictionKey: pkey) + (0..<iterations).map({ _ in g.next() }) {
            let res = try await app.testable().sendRequest(input.method, input.path, headers: input.headers, body: ByteBuffer(bytes: input.body))
            tried += 1
            XCTAssertLessThan(res.status.code, 500, "seed \(seed), input \(tried): \(input)\n→ \(res.body.string.prefix(300))")
            if input.path.lowercased().hasPrefix("/customvision"), res.status.code >= 400 {
                let object = (try? JSONSerialization.jsonObject(with: Data(res.body.string.utf8))) as? [String: Any]
                XCTAssertNotNil(object?["code"] as? String, "not the API's error format: \(input) → \(res.body.string.prefix(200))")
            }
        }
        let health = try await app.call(.GET, "/healthz")
        XCTAssertEqual(health.status, .ok)
        print("fuzz: \(tried) inputs, seed \(seed), no 5xx")
        try await app.asyncShutdown()
    }

    /// Each corpus file is one raw request: the request line, headers, a blank line, the body;
    /// `{project}`, `{trainingKey}` and `{predictionKey}` are filled in the line and headers.
    static func corpus(project: String, trainingKey: String, predictionKey: String) throws -> [Input] {
        let dir = repoRoot + "/Tests/Fixtures/fuzz-corpus"
        return try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { name in
            func fill(_ s: String) -> String {
                s.replacingOccurrences(of: "{project}", with: project).replacingOccurrences(of: "{trainingKey}", with: trainingKey)
                    .replacingOccurrences(of: "{predictionKey}", with: predictionKey)
            }
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
            let split = (0..<max(0, bytes.count - 1)).first { bytes[$0] == 10 && bytes[$0 + 1] == 10 }
            let head = fill(String(decoding: bytes[..<(split ?? bytes.count)], as: UTF8.self))
            let body = split.map { Array(bytes[($0 + 2)...]) } ?? []   // as it is: it may not be UTF-8
            var lines = head.split(separator: "\n").map(String.init)
            let request = lines.removeFirst().split(separator: " ")
            var headers = HTTPHeaders()
            for line in lines { if let colon = line.firstIndex(of: ":") {
                headers.add(name: String(line[..<colon]), value: String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
            } }
            return Input(method: HTTPMethod(rawValue: String(request[0])), path: String(request[1]), headers: headers, body: body)
        }
    }
}
