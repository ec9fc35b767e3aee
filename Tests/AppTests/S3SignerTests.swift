@testable import App
import XCTest

/// The Signature V4 signer against AWS's published examples: requests of the generic
/// Signature Version 4 test suite (service "service") and the worked examples of S3's own
/// documentation (GET with a range, PUT with a body, sub-resource and listing queries, a
/// presigned URL). Each expected signature is AWS's, not one this signer produced.
final class S3SignerTests: XCTestCase {
    private let suite = S3Signer(credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                 region: "us-east-1", service: "service")
    private let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 20150830T123600Z
    private let s3 = S3Signer(credentials: .init(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                              region: "us-east-1")
    private let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 20130524T000000Z
    private let bucketHost = "examplebucket.s3.amazonaws.com"

    private func authorization(_ headers: [(String, String)]) -> String {
        headers.first { $0.0 == "Authorization" }?.1 ?? ""
    }

    private func suiteSignature(_ method: String = "GET", path: String = "/", query: [(String, String)] = [],
                                headers: [(String, String)] = [], body: String = "") -> String {
        let signed = suite.sign(method: method, path: path, query: query, headers: [("Host", "example.amazonaws.com")] + headers,
                                payloadHash: S3Signer.sha256Hex(Data(body.utf8)), date: suiteDate)
        return authorization(signed)
    }

    func testTimestampIsBasicISO8601InUTC() {
        XCTAssertEqual(S3Signer.timestamp(suiteDate), "20150830T123600Z")
        XCTAssertEqual(S3Signer.timestamp(s3Date), "20130524T000000Z")
    }

    func testGenericSuiteRequests() {
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        let cases: [(String, String, String)] = [
            ("get-vanilla-query-order-key-case", suiteSignature(query: [("Param2", "value2"), ("Param1", "value1")]),
             "SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
            ("get-unreserved", suiteSignature(path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
             "SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
            ("get-utf8", suiteSignature(path: "/ሴ"),
             "SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
            ("get-vanilla-utf8-query", suiteSignature(query: [("ሴ", "bar")]),
             "SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
            ("get-space", suiteSignature(path: "/example space/"),
             "SignedHeaders=host;x-amz-date, Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
            ("get-header-value-trim", suiteSignature(headers: [("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")]),
             "SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
            ("post-header-key-sort", suiteSignature("POST", headers: [("My-Header1", "value1")]),
             "SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
            ("post-x-www-form-urlencoded", suiteSignature("POST", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: "Param1=value1"),
             "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
        ]
        for (name, got, expected) in cases {
            XCTAssertEqual(got, prefix + expected, name)
        }
    }

    func testS3GetObjectWithRange() {
        let signed = s3.sign(method: "GET", path: "/test.txt", headers: [("Host", bucketHost), ("Range", "bytes=0-9")],
                             payloadHash: S3Signer.emptyPayloadHash, date: s3Date)
        XCTAssertEqual(authorization(signed), "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                       + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        XCTAssertTrue(signed.contains { $0 == ("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") })
        XCTAssertTrue(signed.contains { $0 == ("x-amz-date", "20130524T000000Z") })
    }

    func testS3PutObjectSignsTheBodyAndEncodesTheKey() {
        let body = Data("Welcome to Amazon S3.".utf8)
        XCTAssertEqual(S3Signer.sha256Hex(body), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let signed = s3.sign(method: "PUT", path: "/test$file.text",
                             headers: [("Host", bucketHost), ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                             payloadHash: S3Signer.sha256Hex(body), date: s3Date)
        XCTAssertEqual(authorization(signed), "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                       + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        XCTAssertEqual(S3Signer.encode("/test$file.text", keepSlash: true), "/test%24file.text")
    }

    func testS3SubresourceAndListingQueries() {
        let lifecycle = s3.sign(method: "GET", path: "/", query: [("lifecycle", "")], headers: [("Host", bucketHost)],
                                payloadHash: S3Signer.emptyPayloadHash, date: s3Date)
        XCTAssertTrue(authorization(lifecycle).hasSuffix("SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
                      authorization(lifecycle))
        let listing = s3.sign(method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [("Host", bucketHost)],
                              payloadHash: S3Signer.emptyPayloadHash, date: s3Date)
        XCTAssertTrue(authorization(listing).hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
                      authorization(listing))
    }

    func testS3PresignedURL() {
        let query = s3.presignedQuery(method: "GET", host: bucketHost, path: "/test.txt", expires: 86_400, date: s3Date)
        XCTAssertTrue(query.hasPrefix("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                                      + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"), query)
        XCTAssertTrue(query.hasSuffix("&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"), query)
    }

    func testASessionTokenIsSigned() {
        let withToken = S3Signer(credentials: .init(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                                sessionToken: "token-value"), region: "us-east-1")
        let signed = withToken.sign(method: "GET", path: "/test.txt", headers: [("Host", bucketHost)],
                                    payloadHash: S3Signer.emptyPayloadHash, date: s3Date)
        XCTAssertTrue(signed.contains { $0 == ("x-amz-security-token", "token-value") })
        XCTAssertTrue(authorization(signed).contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"))
        let plain = s3.sign(method: "GET", path: "/test.txt", headers: [("Host", bucketHost)], payloadHash: S3Signer.emptyPayloadHash, date: s3Date)
        XCTAssertNotEqual(authorization(signed), authorization(plain))
    }
}
