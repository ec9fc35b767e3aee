@testable import App
import Fluent
import NIOCore
import XCTVapor

/// Requests whose shape alone once crashed or froze the whole server (issue 28): a
/// multipart content type with an empty or invalid boundary, and forms or query strings of
/// many repeated fields.
final class RequestShapeTests: XCTestCase {
    private func setUp() async throws -> (Application, key: String, pkey: String, account: String, PortalClient) {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "shape@example.com", tier: "S0")
        let c = PortalClient(app: app)
        try await c.get("/signin")
        try await c.post("/signin", ["email": "shape@example.com", "password": "password-123"])
        try await c.get("/accounts")   // the signed-in session's form token
        return (app, trainingKey(acct), predictionKey(acct), acct["id"] as! String, c)
    }

    func testBoundaryRules() {
        XCTAssertNil(MultipartBoundary(""))
        XCTAssertNil(MultipartBoundary(String(repeating: "a", count: 71)))
        XCTAssertNotNil(MultipartBoundary(String(repeating: "a", count: 70)))
        XCTAssertNil(MultipartBoundary("ends with a space "))
        XCTAssertNotNil(MultipartBoundary("has a space inside"))
        XCTAssertNil(MultipartBoundary("semi;colon"))
        XCTAssertNil(MultipartBoundary("quote\"d"))
        XCTAssertNil(MultipartBoundary("é"))
        XCTAssertNotNil(MultipartBoundary("----WebKitFormBoundary7MA4YWxkTrZu0gW"))
        XCTAssertNotNil(MultipartBoundary("'()+_,-./:=?"))
    }

    /// Every route that reads multipart, and the forms that read `_csrf` first: a bad
    /// boundary is a 400 in the caller's format, and the server keeps answering.
    func testAnInvalidBoundaryIsA400EverywhereAndNothingCrashes() async throws {
        let (app, key, pkey, account, c) = try await setUp()
        let project = try await app.training(.POST, "projects?name=shape", key: key).object["id"] as! String
        let iteration = UUID().uuidString.lowercased()
        let cookie: HTTPHeaders = c.cookie.map { ["Cookie": $0, "X-CSRF-Token": c.csrf ?? ""] } ?? [:]
        let targets: [(String, HTTPHeaders)] = [
            ("/signin", [:]), ("/signup", [:]),
            ("/accounts/\(account)/projects/\(project)/images", cookie),
            ("/accounts/\(account)/projects/\(project)/quicktest", cookie),
            ("/accounts/\(account)/projects/\(project)/tags", ["Cookie": c.cookie ?? ""]),
            ("/customvision/v3.0/prediction/\(project)/classify/iterations/prod/image", ["Prediction-Key": pkey]),
            ("/customvision/v2.0/Prediction/\(project)/image", ["Prediction-Key": pkey]),
            ("/customvision/v3.3/training/projects/\(project)/quicktest/image?iterationId=\(iteration)", ["Training-Key": key]),
            ("/customvision/v3.3/training/projects/\(project)/images", ["Training-Key": key]),
        ]
        let contentTypes = ["multipart/form-data; boundary=", #"multipart/form-data; boundary="""#, "multipart/form-data",
                            "multipart/form-data; boundary=" + String(repeating: "b", count: 71), "multipart/mixed; boundary=a@b",
                            "MULTIPART/FORM-DATA; boundary=<x>"]
        for (path, headers) in targets {
            for type in contentTypes {
                var h = headers
                h.replaceOrAdd(name: .contentType, value: type)
                let r = try await app.call(.POST, path, headers: h, body: "x", contentType: nil)
                XCTAssertEqual(r.status, .badRequest, "\(path) with \(type): \(r.status) \(r.body.prefix(200))")
                if path.hasPrefix("/customvision") { XCTAssertEqual(r.code, "BadRequestImageStream", "\(path): \(r.body)") }
            }
        }
        let health = try await app.call(.GET, "/healthz")
        XCTAssertEqual(health.status, .ok)
        try await app.asyncShutdown()
    }

    /// A portal form sent as multipart still carries its token in a field.
    func testTheFormTokenIsReadFromAMultipartForm() async throws {
        let (app, key, _, account, c) = try await setUp()
        let project = try await app.training(.POST, "projects?name=form", key: key).object["id"] as! String
        func send(_ token: String) async throws -> APIResponse {
            let body = "--frm\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n\(token)\r\n"
                + "--frm\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ncats\r\n--frm--\r\n"
            return try await app.call(.POST, "/accounts/\(account)/projects/\(project)/tags", headers: ["Cookie": c.cookie ?? ""],
                                      body: body, contentType: "multipart/form-data; boundary=frm")
        }
        let _v1 = try await send("forged").status
        XCTAssertEqual(_v1, .forbidden)
        let ok = try await send(c.csrf ?? "")
        XCTAssertNotEqual(ok.status, .forbidden, ok.body.prefix(300).description)
        XCTAssertLessThan(ok.status.code, 500)
        let tags = try await app.training(.GET, "projects/\(project)/tags", key: key).array.map { $0["name"] as? String }
        XCTAssertEqual(tags, ["cats"], "the multipart form reached its handler")
        try await app.asyncShutdown()
    }

    /// 100,000 repeated fields took Vapor's decoder over a minute of CPU: a visitor's form
    /// is capped at 16 KB, anyone's at 1,000 fields, and so is a query string.
    func testFormsAndQueriesOfManyFieldsAreRefusedBeforeDecoding() async throws {
        let (app, key, _, account, c) = try await setUp()
        let flood = Array(repeating: "a=1", count: 100_000).joined(separator: "&")
        let visitor = try await app.call(.POST, "/signin", body: flood, contentType: "application/x-www-form-urlencoded")
        XCTAssertEqual(visitor.status, .badRequest, visitor.body.prefix(200).description)
        let long = "email=" + String(repeating: "a", count: 20_000)
        let _v1 = try await app.call(.POST, "/signin", body: long, contentType: "application/x-www-form-urlencoded").status
        XCTAssertEqual(_v1, .payloadTooLarge, "a visitor's form is at most 16 KB")

        let fields = Array(repeating: "a=1", count: RequestShapeGuard.maxFields + 1).joined(separator: "&")
        for path in ["/signin", "/projects"] {
            let r = try await app.call(.POST, path, headers: ["Cookie": c.cookie ?? ""], body: fields + "&_csrf=\(c.csrf ?? "")",
                                       contentType: "application/x-www-form-urlencoded")
            XCTAssertEqual(r.status, .badRequest, "\(path): \(r.body.prefix(200))")
        }
        let query = try await app.training(.GET, "projects?" + fields, key: key)
        XCTAssertEqual(query.status, .badRequest)
        XCTAssertEqual(query.code, "BadRequest")
        let fine = try await app.training(.GET, "projects?" + Array(repeating: "a=1", count: 100).joined(separator: "&"), key: key)
        XCTAssertEqual(fine.status, .ok)
        // A signed-in user's ordinary form still works.
        try await c.get("/accounts")
        let made = try await c.post("/projects", ["accountId": account, "name": "still works"])
        XCTAssertLessThan(made.status.code, 500)
        XCTAssertNotEqual(made.status, .forbidden)
        try await app.asyncShutdown()
    }

    /// The multipart splitter: framing as RFC 2046 has it, and what MultipartKit trapped on.
    func testMultipartBodiesSplitAsTheRFCSays() throws {
        let b = MultipartBoundary("b")!
        func split(_ s: String, max: Int = 10) throws -> [(String?, String)] {
            try MultipartBody.parts(ByteBuffer(string: s), boundary: b, maxParts: max).map { ($0.headers.first(name: "Content-Disposition"), String(buffer: $0.body)) }
        }
        let two = try split("preamble\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--b  \r\n\r\n\r\n--b--\r\nepilogue")
        XCTAssertEqual(two.map(\.0), [#"form-data; name="a""#, nil])
        XCTAssertEqual(two.map(\.1), ["one", ""])
        let inside = try split("--b\r\nX: 1\r\n\r\nbody with --b inside\r\n--b--")
        XCTAssertEqual(inside.map(\.1), ["body with --b inside"])
        XCTAssertThrowsError(try split("--b\r\nX: 1\r\n\r\n\r\n--b\r\nno blank line after headers\r\n--b--"))
        let headersOnly = try split("--b\r\nX: 1\r\n\r\n--b\r\n\r\nnext\r\n--b--")
        XCTAssertEqual(headersOnly.map(\.1), ["", "next"], "a part of headers and no body does not swallow the next part")
        XCTAssertThrowsError(try split("--b\r\n\u{e9}: x\r\n\r\nbody\r\n--b--"))   // a header name above 127
        XCTAssertThrowsError(try split("--b\r\nX: 1\r\n\r\nno end"))
        XCTAssertThrowsError(try split("no delimiter at all"))
        XCTAssertThrowsError(try split(String(repeating: "--b\r\n\r\nx\r\n", count: 3) + "--b--", max: 2)) { error in
            XCTAssertEqual(error as? MultipartBody.Failure, .tooManyParts)
        }
        let utf8 = try split("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\u{e9}t\u{e9}.jpg\"\r\n\r\nx\r\n--b--")
        XCTAssertEqual(utf8.first?.0, "form-data; name=\"f\"; filename=\"\u{e9}t\u{e9}.jpg\"", "UTF-8 in a header value, as browsers send file names")
    }

    /// Through a real socket, where the body arrives in chunks and delimiters straddle them:
    /// 64 parts are a batch, 65 are refused.
    func testStreamedBatchesCountTheirPartsAcrossChunks() async throws {
        let (app, key, _, _, _) = try await setUp()
        let project = try await app.training(.POST, "projects?name=stream", key: key).object["id"] as! String
        let tester = try app.testable(method: .running(port: 0))
        for (parts, refused) in [(64, false), (65, true)] {
            var body = ByteBuffer()
            for i in 0..<parts { body.writeString("--b\r\nContent-Disposition: form-data; name=\"imageData\"\r\n\r\n" + String(repeating: "x", count: 3000 + i)) ; body.writeString("\r\n") }
            body.writeString("--b--\r\n")
            let res = try await tester.sendRequest(.POST, "/customvision/v3.3/training/projects/\(project)/images",
                                                   headers: ["Training-Key": key, "Content-Type": "multipart/form-data; boundary=b"], body: body)
            let code = APIResponse(status: res.status, headers: res.headers, body: res.body.string).code
            XCTAssertLessThan(res.status.code, 500)
            XCTAssertEqual(code == "BadRequestImageBatch", refused, "\(parts) parts: \(res.status) \(res.body.string.prefix(200))")
        }
        try await app.asyncShutdown()
    }

    func testTheFormTokenScanDecodesOnlyItsField() {
        XCTAssertEqual(FormField.urlEncoded("_csrf", in: Array("a=1&_csrf=ab%2Bc+d&_csrf=no".utf8)), "ab+c d")
        XCTAssertNil(FormField.urlEncoded("_csrf", in: Array("a=1&x_csrf=1&_csrf".utf8)))
        XCTAssertEqual(FormField.urlEncoded("_csrf", in: Array("_csrf=".utf8)), "")
        XCTAssertEqual(FormField.urlEncoded("_csrf", in: Array("%5Fcsrf=t".utf8)), "t")
    }
}
