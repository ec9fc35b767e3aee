@testable import App
import Fluent
import VisionEngine
import XCTVapor

let imageFixtures = URL(fileURLWithPath: repoRoot).appendingPathComponent("Tests/Fixtures/images")
func imageFixture(_ name: String) throws -> Data { try Data(contentsOf: imageFixtures.appendingPathComponent(name)) }

/// A multipart body with one `imageData` part per image.
func multipart(_ images: [Data], boundary: String = "sightline-test-boundary") -> (String, ByteBuffer) {
    var b = ByteBuffer()
    for (i, data) in images.enumerated() {
        b.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"imageData\"; filename=\"\(i).bin\"\r\nContent-Type: application/octet-stream\r\n\r\n")
        b.writeBytes(data)
        b.writeString("\r\n")
    }
    b.writeString("--\(boundary)--\r\n")
    return ("multipart/form-data; boundary=\(boundary)", b)
}

/// Distinct small JPEGs: each (size, quality) pair gives different bytes.
func distinctImages(_ n: Int, from offset: Int = 0) throws -> [Data] {
    let base = try imageFixture("landscape.png")
    let images = try (offset..<offset + n).map { k in
        try ImageDecoder.jpegVariant(base, maxSide: 16 + k % 48, quality: 40 + k / 48 * 7).jpeg
    }
    precondition(Set(images).count == n, "fixture images must differ")
    return images
}

extension Application {
    func upload(_ project: String, key: String, _ images: [Data], tagIds: [String] = []) async throws -> APIResponse {
        let (type, body) = multipart(images)
        let q = tagIds.isEmpty ? "" : "?tagIds=\(tagIds.joined(separator: ","))"
        let res = try await testable().sendRequest(.POST, "/customvision/v3.4-preview/training/projects/\(project)/images\(q)",
                                                   headers: ["Training-Key": key, "Content-Type": type], body: body)
        return APIResponse(status: res.status, headers: res.headers, body: res.body.string)
    }

    func uploadFiles(_ project: String, key: String, _ entries: [[String: Any]], extra: [String: Any] = [:]) async throws -> APIResponse {
        var batch = extra
        batch["images"] = entries
        let body = String(decoding: try JSONSerialization.data(withJSONObject: batch), as: UTF8.self)
        return try await training(.POST, "projects/\(project)/images/files", key: key, body: body)
    }
}

final class ImageTests: XCTestCase {
    private func setUp(tier: String = "S0") async throws -> (Application, String, String, String) {
        let app = try await makeApp()
        let token = try await app.makeAdmin()
        let acct = try await app.makeAccount(token: token, email: "img@example.com", tier: tier)
        let key = trainingKey(acct)
        let project = try await app.training(.POST, "projects?name=images", key: key).object["id"] as! String
        return (app, token, key, project)
    }

    func testCorpusGetsTheRightStatusPerImage() async throws {
        let (app, _, key, project) = try await setUp()
        let expected: [(String, String)] = [
            ("landscape.jpg", "OK"), ("landscape.png", "OK"), ("landscape.bmp", "OK"), ("landscape.webp", "OK"),
            ("animated.gif", "OK"), ("cmyk.jpg", "OK"), ("gray16.png", "OK"), ("exif-rotated.jpg", "OK"),
            ("tiny-3x3.png", "OK"), ("empty.jpg", "ErrorImageFormat"), ("truncated.jpg", "ErrorImageFormat"),
            ("bomb-30000.png", "ErrorImageDimensions"), ("drawing.svg", "ErrorImageFormat"), ("page.html", "ErrorImageFormat"),
            ("notes.txt", "ErrorImageFormat"), ("strip-1x40.png", "ErrorImageDimensions"),
        ]
        var big = try imageFixture("landscape.jpg")
        big.append(Data(count: 7 * 1024 * 1024))
        let datas = try expected.map { try imageFixture($0.0) } + [big]
        let res = try await app.upload(project, key: key, datas)
        XCTAssertEqual(res.status, .multiStatus)
        XCTAssertEqual(res.object["isBatchSuccessful"] as? Bool, false)
        let results = res.object["images"] as! [[String: Any]]
        XCTAssertEqual(results.count, expected.count + 1)
        for (i, (name, status)) in expected.enumerated() {
            XCTAssertEqual(results[i]["status"] as? String, status, name)
        }
        XCTAssertEqual(results.last?["status"] as? String, "ErrorImageSize")
        let rotated = results[7]["image"] as! [String: Any]
        XCTAssertEqual([rotated["width"] as? Int, rotated["height"] as? Int], [64, 32], "EXIF orientation applied")
        let _v1 = try await app.training(.GET, "projects/\(project)/images/count", key: key).body
        XCTAssertEqual(_v1, "9")

        // The same bytes again are OKDuplicate and point at the stored image.
        let again = try await app.upload(project, key: key, [try imageFixture("landscape.jpg")])
        XCTAssertEqual(again.status, .multiStatus)
        let dup = (again.object["images"] as! [[String: Any]])[0]
        XCTAssertEqual(dup["status"] as? String, "OKDuplicate")
        XCTAssertEqual((dup["image"] as? [String: Any])?["id"] as? String, (results[0]["image"] as? [String: Any])?["id"] as? String)
        // Raw octet-stream works too; all OK is 200.
        let raw = try await app.call(.POST, "/customvision/v3.3/training/projects/\(project)/images",
                                     headers: ["Training-Key": key], body: nil)
        XCTAssertEqual(raw.status, .multiStatus, "an empty body is one unreadable image")
        let one = try distinctImages(1)[0]
        let res2 = try await app.testable().sendRequest(.POST, "/customvision/v3.3/training/projects/\(project)/images",
                                                        headers: ["Training-Key": key, "Content-Type": "application/octet-stream"],
                                                        body: ByteBuffer(data: one))
        XCTAssertEqual(res2.status, .ok, res2.body.string)
        try await app.asyncShutdown()
    }

    func testBatchLimitsAndValidation() async throws {
        let (app, _, key, project) = try await setUp()
        let tiny = try imageFixture("tiny-3x3.png")
        let tooMany = try await app.upload(project, key: key, Array(repeating: tiny, count: 65))
        XCTAssertEqual(tooMany.code, "BadRequestImageBatch")
        let empty = try await app.uploadFiles(project, key: key, [])
        XCTAssertEqual(empty.code, "BadRequestImageBatch")
        let tag = try await app.training(.POST, "projects/\(project)/tags?name=a", key: key).object["id"] as! String
        let neg = try await app.training(.POST, "projects/\(project)/tags?name=n&type=Negative", key: key).object["id"] as! String
        let imgs = try distinctImages(4)
        let res = try await app.uploadFiles(project, key: key, [
            ["contents": imgs[0].base64EncodedString(), "tagIds": [tag, neg]],
            ["contents": imgs[1].base64EncodedString(), "tagIds": [UUID().uuidString]],
            ["contents": imgs[2].base64EncodedString(), "regions": [["tagId": tag, "left": 0.1, "top": 0.1, "width": 0.5, "height": 0.5]]],
            ["contents": imgs[3].base64EncodedString()],
        ], extra: ["tagIds": [tag], "metadata": ["camera": "north"]])
        let statuses = (res.object["images"] as! [[String: Any]]).map { $0["status"] as! String }
        XCTAssertEqual(statuses, ["ErrorNegativeAndRegularTagOnSameImage", "ErrorInvalidTag", "OK", "OK"])
        let badRegion = try await app.uploadFiles(project, key: key, [
            ["contents": imgs[0].base64EncodedString(), "regions": [["tagId": tag, "left": 0.8, "top": 0.1, "width": 0.5, "height": 0.5]]],
        ])
        XCTAssertEqual(badRegion.code, "BadRequestImageRegions")
        let badMeta = try await app.uploadFiles(project, key: key, [["contents": imgs[0].base64EncodedString()]],
                                               extra: ["metadata": [String(repeating: "k", count: 300): "v"]])
        XCTAssertEqual(badMeta.code, "BadRequestImageMetadataKey")
        let _v2 = try await app.training(.GET, "projects/\(project)/images/count", key: key).body
        XCTAssertEqual(_v2, "2")
        try await app.asyncShutdown()
    }

    func testConcurrentBatchesStoreExactlyUpToTheImageLimit() async throws {
        let (app, token, key, project) = try await setUp(tier: "F0")
        let id = try await Account.query(on: app.db).first()!.id!.uuidString.lowercased()
        // The cheap version of "4,990 of 5,000": a limit of 30 with 20 already stored.
        _ = try await app.admin(.PUT, "accounts/\(id)/overrides", token: token, body: #"{"imagesPerProject":30}"#)
        let first = try await app.upload(project, key: key, try distinctImages(20))
        XCTAssertEqual(first.status, .ok, first.body)
        let batches = try (0..<8).map { try distinctImages(6, from: 100 + $0 * 6) }
        let results = try await withThrowingTaskGroup(of: APIResponse.self) { group in
            for b in batches { group.addTask { try await app.upload(project, key: key, b) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let statuses = results.flatMap { ($0.object["images"] as! [[String: Any]]).map { $0["status"] as! String } }
        XCTAssertEqual(statuses.filter { $0 == "OK" }.count, 10)
        XCTAssertEqual(statuses.filter { $0 == "ErrorLimitExceed" }.count, 38)
        let _v3 = try await app.training(.GET, "projects/\(project)/images/count", key: key).body
        XCTAssertEqual(_v3, "30")
        let _v4 = try await ImageRecord.query(on: app.db).count()
        XCTAssertEqual(_v4, 30)
        let account = try await Account.query(on: app.db).first()!
        let used = try await QuotaLedger.used(.imagesPerProject, account: account, project: UUID(uuidString: project), on: app.db)
        XCTAssertEqual(used, 30)
        // Every row's blobs are on disk.
        for img in try await ImageRecord.query(on: app.db).all() {
            for hash in [img.originalHash, img.thumbnailHash, img.resizedHash] {
                let stored = try await app.blobStore.exists(hash)
                XCTAssertTrue(stored)
            }
        }
        try await app.asyncShutdown()
    }

    func testListingFilteringTaggingRegionsAndMetadata() async throws {
        let (app, _, key, project) = try await setUp()
        let a = try await app.training(.POST, "projects/\(project)/tags?name=a", key: key).object["id"] as! String
        let b = try await app.training(.POST, "projects/\(project)/tags?name=b", key: key).object["id"] as! String
        let imgs = try distinctImages(6)
        let up = try await app.uploadFiles(project, key: key, imgs.enumerated().map { i, d in
            ["contents": d.base64EncodedString(), "tagIds": i < 2 ? [a] : i < 3 ? [b] : []]
        })
        let ids = (up.object["images"] as! [[String: Any]]).map { ($0["image"] as! [String: Any])["id"] as! String }
        let _v6 = try await app.training(.GET, "projects/\(project)/images/tagged/count", key: key).body
        XCTAssertEqual(_v6, "3")
        let _v7 = try await app.training(.GET, "projects/\(project)/images/untagged/count", key: key).body
        XCTAssertEqual(_v7, "3")
        let _v8 = try await app.training(.GET, "projects/\(project)/images/tagged?tagIds=\(a)", key: key).array.count
        XCTAssertEqual(_v8, 2)
        let _v9 = try await app.training(.GET, "projects/\(project)/images/count?taggingStatus=Untagged", key: key).body
        XCTAssertEqual(_v9, "3")
        let oldest = try await app.training(.GET, "projects/\(project)/images?orderBy=Oldest&take=2&skip=1", key: key).array.map { $0["id"] as! String }
        XCTAssertEqual(oldest, Array(ids[1...2]))
        let newest = try await app.training(.GET, "projects/\(project)/images?take=1", key: key).array.map { $0["id"] as! String }
        XCTAssertEqual(newest, [ids[5]])
        let _v10 = try await app.training(.GET, "projects/\(project)/images?take=257", key: key).status
        XCTAssertEqual(_v10, .badRequest)
        let tags = try await app.training(.GET, "projects/\(project)/tags", key: key).array
        XCTAssertEqual(tags.first { $0["name"] as? String == "a" }?["imageCount"] as? Int, 2)

        // Metadata and $filter.
        let meta = try await app.training(.POST, "projects/\(project)/images/metadata?imageIds=\(ids[0]),\(ids[1]),\(UUID().uuidString)", key: key,
                                          body: #"{"camera":"north","site":"A"}"#)
        XCTAssertEqual(meta.status, .multiStatus)
        XCTAssertEqual((meta.object["images"] as! [[String: Any]]).map { $0["status"] as! String }, ["OK", "OK", "ErrorImageNotFound"])
        _ = try await app.training(.POST, "projects/\(project)/images/metadata?imageIds=\(ids[1])", key: key, body: #"{"site":"B"}"#)
        let f = "camera eq 'north' and (site eq 'A' or site eq 'C')".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let _v11 = try await app.training(.GET, "projects/\(project)/images?$filter=\(f)", key: key).array.map { $0["id"] as! String }
        XCTAssertEqual(_v11, [ids[0]])
        let _v12 = try await app.training(.GET, "projects/\(project)/images?$filter=camera%20eq", key: key).status
        XCTAssertEqual(_v12, .badRequest)

        // Image tags: created / duplicated, then removed.
        let tagBody = #"{"tags":[{"imageId":"\#(ids[3])","tagId":"\#(a)"},{"imageId":"\#(ids[0])","tagId":"\#(a)"}]}"#
        let added = try await app.training(.POST, "projects/\(project)/images/tags", key: key, body: tagBody)
        XCTAssertEqual((added.object["created"] as! [Any]).count, 1)
        XCTAssertEqual((added.object["duplicated"] as! [Any]).count, 1)
        let _v13 = try await app.training(.DELETE, "projects/\(project)/images/tags?imageIds=\(ids[3])&tagIds=\(a)", key: key).status
        XCTAssertEqual(_v13, .noContent)
        let _v14 = try await app.training(.GET, "projects/\(project)/images/tagged/count", key: key).body
        XCTAssertEqual(_v14, "3")

        // Regions.
        let regionBody = #"{"regions":[{"imageId":"\#(ids[4])","tagId":"\#(b)","left":0.1,"top":0.2,"width":0.3,"height":0.4}]}"#
        let regions = try await app.training(.POST, "projects/\(project)/images/regions", key: key, body: regionBody)
        XCTAssertEqual(regions.status, .ok, regions.body)
        let regionId = (regions.object["created"] as! [[String: Any]])[0]["regionId"] as! String
        let again = try await app.training(.POST, "projects/\(project)/images/regions", key: key, body: regionBody)
        XCTAssertEqual(again.status, .multiStatus)
        let bad = #"{"regions":[{"imageId":"\#(ids[4])","tagId":"\#(b)","left":0.9,"top":0.2,"width":0.3,"height":0.4}]}"#
        let _v15 = try await app.training(.POST, "projects/\(project)/images/regions", key: key, body: bad).code
        XCTAssertEqual(_v15, "BadRequestImageRegions")
        let withRegion = try await app.training(.GET, "projects/\(project)/images/id?imageIds=\(ids[4])", key: key).array[0]
        XCTAssertEqual(((withRegion["regions"] as! [[String: Any]])[0]["left"] as! Double), 0.1, accuracy: 1e-9)
        let _v16 = try await app.training(.DELETE, "projects/\(project)/images/regions?regionIds=\(regionId)", key: key).status
        XCTAssertEqual(_v16, .noContent)

        // Delete two images, then all.
        let _v17 = try await app.training(.DELETE, "projects/\(project)/images?imageIds=\(ids[0]),\(ids[1])", key: key).status
        XCTAssertEqual(_v17, .noContent)
        let _v18 = try await app.training(.GET, "projects/\(project)/images/count", key: key).body
        XCTAssertEqual(_v18, "4")
        let _v19 = try await app.training(.DELETE, "projects/\(project)/images?allImages=true", key: key).status
        XCTAssertEqual(_v19, .noContent)
        let _v20 = try await app.training(.GET, "projects/\(project)/images/count", key: key).body
        XCTAssertEqual(_v20, "0")
        try await app.asyncShutdown()
    }

    func testTagImageCountStaysRightUnderConcurrentEdits() async throws {
        let (app, _, key, project) = try await setUp()
        let tag = try await app.training(.POST, "projects/\(project)/tags?name=t", key: key).object["id"] as! String
        let up = try await app.upload(project, key: key, try distinctImages(24))
        let ids = (up.object["images"] as! [[String: Any]]).map { ($0["image"] as! [String: Any])["id"] as! String }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask {
                    _ = try await app.training(.POST, "projects/\(project)/images/tags", key: key,
                                               body: #"{"tags":[{"imageId":"\#(id)","tagId":"\#(tag)"}]}"#)
                }
            }
            try await group.waitForAll()
        }
        let _v21 = try await app.training(.GET, "projects/\(project)/tags/\(tag)", key: key).object["imageCount"] as? Int
        XCTAssertEqual(_v21, 24)
        try await app.asyncShutdown()
    }

    func testSignedBlobURLsExpireAndResistTampering() async throws {
        let (app, _, key, project) = try await setUp()
        let up = try await app.upload(project, key: key, [try imageFixture("landscape.png")])
        let image = (up.object["images"] as! [[String: Any]])[0]["image"] as! [String: Any]
        for field in ["thumbnailUri", "resizedImageUri", "originalImageUri"] {
            let url = URLComponents(string: image[field] as! String)!
            let path = url.path + "?" + url.query!
            let ok = try await app.call(.GET, path)
            XCTAssertEqual(ok.status, .ok, field)
            XCTAssertEqual(ok.headers.first(name: .contentType), field == "originalImageUri" ? "image/png" : "image/jpeg")
            let tampered = path.replacingOccurrences(of: "sig=", with: "sig=0")
            let _v22 = try await app.call(.GET, String(tampered.dropLast())).status
            XCTAssertEqual(_v22, .forbidden)
            let later = path.replacingOccurrences(of: "se=", with: "se=9")
            let _v23 = try await app.call(.GET, later).status
            XCTAssertEqual(_v23, .forbidden, "a changed expiry breaks the signature")
        }
        let hash = try await ImageRecord.query(on: app.db).first()!.originalHash
        let expired = app.blobSigner.url(hash: hash, base: "", now: Date().addingTimeInterval(-2 * BlobSigner.lifetime))
        let _v24 = try await app.call(.GET, expired).status
        XCTAssertEqual(_v24, .forbidden)
        try await app.asyncShutdown()
    }

    func testSweepRemovesOnlyOrphanBlobs() async throws {
        let (app, _, key, project) = try await setUp()
        _ = try await app.upload(project, key: key, try distinctImages(2))
        let orphan = try await app.blobStore.put(Data("left behind by a crashed upload".utf8))
        let sweeper = app.blobSweeper
        let _v25 = try await sweeper.sweep(grace: 3600)
        XCTAssertEqual(_v25, 0, "young orphans are kept during the grace period")
        let _v26 = try await sweeper.sweep(grace: 0)
        XCTAssertEqual(_v26, 1)
        let orphanKept = try await app.blobStore.exists(orphan)
        XCTAssertFalse(orphanKept)
        var kept = Set<String>()
        for img in try await ImageRecord.query(on: app.db).all() { kept.formUnion([img.originalHash, img.resizedHash, img.thumbnailHash]) }
        XCTAssertEqual(Set((app.blobStore as! FileBlobStore).all().map(\.hash)), kept, "exactly the referenced blobs remain")
        try await app.asyncShutdown()
    }

    func testOtherAccountsCannotReachImages() async throws {
        let (app, token, key, project) = try await setUp()
        let other = trainingKey(try await app.makeAccount(token: token, email: "other@example.com", tier: "S0", name: "other"))
        _ = try await app.upload(project, key: key, try distinctImages(1))
        for path in ["images", "images/count", "images/tagged", "images/untagged/count"] {
            let r = try await app.training(.GET, "projects/\(project)/\(path)", key: other)
            XCTAssertEqual(r.code, "NotFoundProject", path)
        }
        let _v27 = try await app.upload(project, key: other, try distinctImages(1)).code
        XCTAssertEqual(_v27, "NotFoundProject")
        let _v28 = try await app.training(.DELETE, "projects/\(project)/images?allImages=true", key: other).code
        XCTAssertEqual(_v28, "NotFoundProject")
        let _v29 = try await app.training(.GET, "projects/\(project)/images/count", key: key).body
        XCTAssertEqual(_v29, "1")
        try await app.asyncShutdown()
    }
}

final class URLPolicyTests: XCTestCase {
    func testPrivateLoopbackLinkLocalAndMetadataAddressesAreRefused() {
        let policy = URLPolicy(enabled: true, allowLoopback: false)
        let refused: [[UInt8]] = [
            [127, 0, 0, 1], [10, 1, 2, 3], [172, 16, 0, 1], [172, 31, 255, 255], [192, 168, 1, 1], [169, 254, 169, 254],
            [0, 0, 0, 0], [100, 100, 100, 200], [224, 0, 0, 1], [255, 255, 255, 255],
            [UInt8](repeating: 0, count: 15) + [1],                                   // ::1
            [0xfc, 0] + [UInt8](repeating: 0, count: 13) + [1],                       // fc00::1
            [0xfd, 0, 0x0e, 0xc2] + [UInt8](repeating: 0, count: 10) + [2, 0x54],     // fd00:ec2::254
            [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1],                    // fe80::1
            [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1],            // ::ffff:127.0.0.1
            [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 169, 254, 169, 254],      // ::ffff:169.254.169.254
        ]
        for a in refused { XCTAssertFalse(policy.permitted(a), URLPolicy.format(a)) }
        for a: [UInt8] in [[8, 8, 8, 8], [93, 184, 216, 34], [0x26, 0x06, 0x28, 0] + [UInt8](repeating: 0, count: 11) + [1]] {
            XCTAssertTrue(policy.permitted(a), URLPolicy.format(a))
        }
        // Names are checked by what they resolve to; no connection is opened here.
        let fakeDNS: (String) -> [[UInt8]] = { host in
            ["rebind.example": [[93, 184, 216, 34], [10, 0, 0, 5]], "public.example": [[93, 184, 216, 34]],
             "meta.example": [[169, 254, 169, 254]]][host] ?? []
        }
        XCTAssertEqual(policy.check("http://rebind.example/a.jpg", resolve: fakeDNS), .failure(.forbiddenAddress("10.0.0.5")))
        XCTAssertEqual(policy.check("https://meta.example/latest", resolve: fakeDNS), .failure(.forbiddenAddress("169.254.169.254")))
        XCTAssertEqual(policy.check("http://public.example/a.jpg", resolve: fakeDNS), .success([[93, 184, 216, 34]]))
        XCTAssertEqual(policy.check("http://nowhere.example/", resolve: fakeDNS), .failure(.unresolvable))
        XCTAssertEqual(policy.check("ftp://public.example/a.jpg", resolve: fakeDNS), .failure(.badURL))
        XCTAssertEqual(policy.check("file:///etc/passwd", resolve: fakeDNS), .failure(.badURL))
        XCTAssertEqual(policy.check("http://localhost/x", resolve: fakeDNS), .failure(.forbiddenAddress("localhost")))
        XCTAssertEqual(policy.check("http://metadata.google.internal/x", resolve: fakeDNS), .failure(.forbiddenAddress("metadata.google.internal")))
        XCTAssertEqual(URLPolicy(enabled: false, allowLoopback: false).check("http://public.example/", resolve: fakeDNS), .failure(.disabled))
        XCTAssertTrue(URLPolicy(enabled: true, allowLoopback: true).permitted([127, 0, 0, 1]))
        // Literal addresses resolve to themselves (getaddrinfo on a numeric host opens nothing).
        XCTAssertEqual(policy.check("http://127.0.0.1:8080/x"), .failure(.forbiddenAddress("127.0.0.1")))
        XCTAssertEqual(policy.check("http://[::1]/x"), .failure(.forbiddenAddress("0:0:0:0:0:0:0:1")))
    }
}
