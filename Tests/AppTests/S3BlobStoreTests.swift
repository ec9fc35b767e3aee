@testable import App
import VisionEngine
import Foundation
import NIOHTTP1
import NIOPosix
import SQLKit
import XCTVapor

/// Blobs in a real S3 server (scripts/with-s3.sh: moto with signatures and IAM checked):
/// the API's uploads, reads and sweeps through `S3BlobStore`, the write gate against a
/// racing upload, and 503 when the store is out of reach.
final class S3BlobStoreTests: XCTestCase {
    private var server: [String: String] = [:]

    override func setUpWithError() throws {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["TEST_S3_ENDPOINT"], TestDatabase.postgresURL != nil else {
            throw XCTSkip("needs PostgreSQL and the S3 server of scripts/with-s3.sh (make test starts both)")
        }
        server = ["AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": env["TEST_S3_ACCESS_KEY_ID"] ?? "",
                  "AWS_SECRET_ACCESS_KEY": env["TEST_S3_SECRET_ACCESS_KEY"] ?? "", "AWS_REGION": env["TEST_S3_REGION"] ?? "us-east-1"]
    }

    /// An app whose blobs go to a new bucket of the test server (created with the store's own signed request).
    private func makeS3App() async throws -> (Application, S3BlobStore) {
        let bucket = "sightline-\(UUID().uuidString.lowercased().prefix(18))"
        let env = server
        let app = try await makeApp {
            $0.blobFreeGraceSeconds = 10
            $0.blobSigningKey = "the same on every node"
            $0.blobStoreURL = "s3://\(bucket)/tenant-blobs"
            $0.awsEnvironment = env
        }
        let store = try XCTUnwrap(app.blobStore as? S3BlobStore)
        let created = try await store.send(.PUT, key: nil)
        XCTAssertEqual(created.0, .ok)
        return (app, store)
    }

    func testImagesLiveInTheBucketAndNotUnderTheDataDirectory() async throws {
        let (app, store) = try await makeS3App()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "s3@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=s3", key: key).object["id"] as! String
        let images = try distinctImages(2)
        let up = try await app.upload(project, key: key, images)
        XCTAssertEqual(up.status, .ok, up.body)
        let listed = try await store.list()
        XCTAssertEqual(listed.count, 6, "original, resized copy and thumbnail of each image")
        XCTAssertTrue(listed.allSatisfy { Date().timeIntervalSince($0.modified) < 600 })
        XCTAssertTrue(Set(listed.map(\.hash)).isSuperset(of: images.map(Blob.hash)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: app.settings.dataDir + "/blobs"))

        // Served back through a signed link, byte for byte.
        let image = try XCTUnwrap(((up.object["images"] as? [[String: Any]])?.first?["image"]) as? [String: Any])
        let uri = URLComponents(string: try XCTUnwrap(image["originalImageUri"] as? String))!
        let res = try await app.testable().sendRequest(.GET, uri.path + "?" + uri.query!)
        XCTAssertEqual(res.status, .ok)
        XCTAssertTrue(images.contains(Data(buffer: res.body)))

        // A deleted image's blobs go once the grace has passed; the other image's stay.
        let id = try XCTUnwrap(image["id"] as? String)
        let deleted = try await app.training(.DELETE, "projects/\(project)/images?imageIds=\(id)", key: key)
        XCTAssertEqual(deleted.status, .noContent)
        await app.blobReclaimer.drain()
        let left = try await store.list()
        XCTAssertEqual(left.count, 3)
        // The hourly sweep takes what no row names, and only that.
        let orphan = try await store.put(Data("left behind by a stopped upload".utf8))
        let removed = try await app.blobSweeper.sweep(grace: 0)
        XCTAssertEqual(removed, 1)
        let orphanKept = try await store.exists(orphan)
        XCTAssertFalse(orphanKept)
        let after = try await store.list()
        XCTAssertEqual(Set(after.map(\.hash)), Set(left.map(\.hash)))
        try await app.asyncShutdown()
    }

    func testAWriteRecordedDuringARemovalKeepsTheBlob() async throws {
        let (app, store) = try await makeS3App()
        let hash = try await store.put(Data("bytes of an upload whose row is not committed yet".utf8))
        // The write lands between the removal's mark and its delete: the removal gives up.
        let kept = try await store.gate.remove(hash, grace: 0, isReferenced: { h in
            try await store.keep([(h, Data("bytes of an upload whose row is not committed yet".utf8))])
            return false
        }, delete: { XCTFail("the object must not be deleted") })
        XCTAssertFalse(kept)
        let stillThere = try await store.exists(hash)
        XCTAssertTrue(stillThere)
        // A recent write protects it within the grace period; past it, nothing does.
        let young = try await store.remove(hash, grace: 3600) { _ in false }
        XCTAssertFalse(young)
        let old = try await store.remove(hash, grace: 0) { _ in false }
        XCTAssertTrue(old)
        let gone = try await store.exists(hash)
        XCTAssertFalse(gone)
        // Written again after a removal, the bytes are uploaded anew.
        try await store.keep([(hash, Data("bytes of an upload whose row is not committed yet".utf8))])
        let back = try await store.read(hash)
        XCTAssertEqual(back, Data("bytes of an upload whose row is not committed yet".utf8))
        try await app.asyncShutdown()
    }

    func testALargeBlobGoesUpInParts() async throws {
        let (app, store) = try await makeS3App()
        var small = store
        small.multipartThreshold = 5 << 20
        small.partSize = 5 << 20   // S3's smallest part (all but the last)
        var generator = SplitMix64(seed: 7)
        let data = Data((0..<(12 << 20)).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        let hash = try await small.put(data)
        XCTAssertEqual(hash, Blob.hash(data))
        let back = try await store.read(hash)
        XCTAssertEqual(back.count, data.count)
        XCTAssertTrue(back == data, "the parts are put together in order")
        // Served as it arrives: the first chunk, then the rest.
        let download = try await store.download(hash)
        XCTAssertEqual(download.length, data.count)
        final class Collected: @unchecked Sendable { var bytes = Data(); var chunks = 0 }
        let collected = Collected()
        collected.bytes.append(contentsOf: download.first.readableBytesView)
        try await download.rest { chunk in collected.bytes.append(contentsOf: chunk.readableBytesView); collected.chunks += 1 }
        XCTAssertTrue(collected.bytes == data)
        XCTAssertGreaterThan(collected.chunks, 1, "a large blob comes in several chunks")
        let (status, _, body) = try await store.send(.GET, key: nil, query: [("uploads", "")])
        XCTAssertEqual(status, .ok)
        XCTAssertFalse(String(decoding: body, as: UTF8.self).contains("<Upload>"), "no upload is left open")
        try await app.asyncShutdown()
    }

    func testAWrongSecretIsRefusedByTheServer() async throws {
        let (app, store) = try await makeS3App()
        var wrong = store
        wrong.signer = S3Signer(credentials: .init(accessKeyID: server["AWS_ACCESS_KEY_ID"]!, secretAccessKey: "not-the-secret"),
                                region: store.signer.region)
        do {
            _ = try await wrong.put(Data("x".utf8))
            XCTFail("a request signed with the wrong secret must fail")
        } catch let e as BlobStoreUnavailable {
            XCTAssertTrue(e.description.contains("SignatureDoesNotMatch"), e.description)
        }
        try await app.asyncShutdown()
    }

    func testAStoreOutOfReachAnswers503WithRetryAfter() async throws {
        // A port nothing listens on: every request is refused at once.
        let socket = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = socket.localAddress!.port!
        try await socket.close()
        let (app, store) = try await makeS3App()
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "s3-down@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=down", key: key).object["id"] as! String
        var down = store
        down.location.port = port
        down.backoff = .milliseconds(10)
        app.blobStore = down
        let up = try await app.upload(project, key: key, try distinctImages(1))
        XCTAssertEqual(up.status, .serviceUnavailable, up.body)
        XCTAssertNotNil(up.headers.first(name: "Retry-After"))
        XCTAssertEqual(up.code, "ErrorUnknown")
        // Back in reach, the same upload succeeds.
        app.blobStore = store
        let again = try await app.upload(project, key: key, try distinctImages(1))
        XCTAssertEqual(again.status, .ok, again.body)
        try await app.asyncShutdown()
    }
}
