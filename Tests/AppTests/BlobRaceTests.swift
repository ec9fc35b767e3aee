@testable import App
import Fluent
import SQLKit
import VisionEngine
import XCTVapor

/// An upload that reuses the bytes of a deleted image while a sweep runs keeps them.
final class BlobRaceTests: XCTestCase {
    private func age(_ app: Application, seconds: TimeInterval) throws {
        for blob in (app.blobStore as! FileBlobStore).all() {
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-seconds)],
                                                  ofItemAtPath: (app.blobStore as! FileBlobStore).path(blob.hash).path)
        }
    }

    private func imageURIs(_ upload: APIResponse) -> [String] {
        let image = ((upload.object["images"] as? [[String: Any]])?.first?["image"] as? [String: Any]) ?? [:]
        return ["thumbnailUri", "resizedImageUri", "originalImageUri"].compactMap { image[$0] as? String }
    }

    private func get(_ app: Application, _ uri: String) async throws -> HTTPStatus {
        let u = URLComponents(string: uri)!
        return try await app.call(.GET, u.path + "?" + u.query!).status
    }

    func testReuploadDuringSweepKeepsTheBytes() async throws {
        let app = try await makeApp { $0.blobFreeGraceSeconds = 3600 }
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "race@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=race", key: key).object["id"] as! String
        let bytes = try distinctImages(1)[0]
        let first = try await app.upload(project, key: key, [bytes])
        let id = ((first.object["images"] as! [[String: Any]])[0]["image"] as! [String: Any])["id"] as! String
        let _v1 = try await app.training(.DELETE, "projects/\(project)/images?imageIds=\(id)", key: key).status
        XCTAssertEqual(_v1, .noContent)
        try age(app, seconds: 7200)   // uploaded long ago, deleted now

        // The sweep has taken its snapshot of references (the deleted image is not in it);
        // the same bytes are uploaded again before it removes the first candidate.
        final class Box: @unchecked Sendable { var upload: APIResponse? }
        let box = Box()
        var sweeper = app.blobSweeper
        sweeper.beforeRemoving = { _ in
            if box.upload == nil { box.upload = try await app.upload(project, key: key, [bytes]) }
        }
        _ = try await sweeper.sweep(grace: 3600)
        let again = try XCTUnwrap(box.upload)
        XCTAssertEqual(again.status, .ok, again.body)
        XCTAssertEqual((again.object["images"] as? [[String: Any]])?.first?["status"] as? String, "OK")
        let uris = imageURIs(again)
        XCTAssertEqual(uris.count, 3)
        for uri in uris {
            let _v2 = try await get(app, uri)
            XCTAssertEqual(_v2, .ok, "an acknowledged image keeps its bytes")
        }
        // A later sweep keeps them too: they are referenced.
        _ = try await app.blobSweeper.sweep(grace: 0)
        for uri in uris {
            let _v3 = try await get(app, uri)
            XCTAssertEqual(_v3, .ok)
        }
        try await app.asyncShutdown()
    }

    /// The other order: the upload's `put` reuses the blob (refreshing it) before the sweep's
    /// snapshot, and commits only after the sweep.
    func testReusedBlobIsFreshBeforeItsRowCommits() async throws {
        let app = try await makeApp()
        let data = Data("bytes of an image whose row is not committed yet".utf8)
        let hash = try await app.blobStore.put(data)
        try age(app, seconds: 7200)
        let again = try await app.blobStore.put(data)
        XCTAssertEqual(again, hash)
        let removed = try await app.blobSweeper.sweep(grace: 3600)
        XCTAssertEqual(removed, 0)
        let kept = try await app.blobStore.exists(hash)
        XCTAssertTrue(kept)
        try await app.asyncShutdown()
    }

    /// Deleting images frees their blobs soon after, and their signed links stop working at once.
    func testDeletedImagesFreeTheirBlobsAndLinks() async throws {
        let app = try await makeApp { $0.blobFreeGraceSeconds = 0 }
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "free@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=free", key: key).object["id"] as! String
        let up = try await app.upload(project, key: key, try distinctImages(1, from: 3))
        let uris = imageURIs(up)
        let id = ((up.object["images"] as! [[String: Any]])[0]["image"] as! [String: Any])["id"] as! String
        let _v0 = try await get(app, uris[0])
        XCTAssertEqual(_v0, .ok)
        let blobs = (app.blobStore as! FileBlobStore).all().count
        XCTAssertEqual(blobs, 3)
        _ = try await app.training(.DELETE, "projects/\(project)/images?imageIds=\(id)", key: key)
        for uri in uris {
            let _v1 = try await get(app, uri)
            XCTAssertEqual(_v1, .notFound, "a deleted image's link no longer serves it")
        }
        await app.blobReclaimer.drain()
        XCTAssertEqual((app.blobStore as! FileBlobStore).all().count, 0)
        try await app.asyncShutdown()
    }

    /// Cached features (the table and the detection views on disk) go with their image's
    /// bytes, and a sweep drops any whose bytes are already gone; live images keep theirs.
    func testFeaturesGoWithTheirBlobs() async throws {
        let app = try await makeApp { $0.blobFreeGraceSeconds = 0 }
        let token = try await app.makeAdmin()
        let key = trainingKey(try await app.makeAccount(token: token, email: "features@example.com", tier: "S0"))
        let project = try await app.training(.POST, "projects?name=features", key: key).object["id"] as! String
        let up = try await app.upload(project, key: key, try distinctImages(2, from: 5))
        let ids = (up.object["images"] as! [[String: Any]]).map { ($0["image"] as! [String: Any])["id"] as! String }
        let records = try await ImageRecord.query(on: app.db).all()
        let hash = { (id: String) in records.first { $0.id!.uuidString.lowercased() == id.lowercased() }!.originalHash }
        let deleted = hash(ids[0]), kept = hash(ids[1])
        let orphan = String(repeating: "ab", count: 32)   // features of bytes deleted long ago
        let disk = try DiskDetectionFeatureCache(directory: DetectionTrainingJob.cacheDirectory(app))
        for h in [deleted, kept, orphan] {
            let row = StoredFeature()
            row.blobHash = h; row.backbone = "lite0@224"; row.view = 0; row.vector = Data(count: 16)
            try await row.create(on: app.db)
            try disk.store([1, 2, 3], for: FeatureKey(blobHash: h, backbone: "lite0@416-\(DetectionView.scheme)", view: 0))
        }
        // A view of the kept image cached under an earlier view scheme, which no key names now.
        try disk.store([4], for: FeatureKey(blobHash: kept, backbone: "lite0@416-det416v1", view: 0))
        // A file of the earlier flat layout.
        try Data(count: 8).write(to: disk.directory.appendingPathComponent("lite0_416-det416v1-\(orphan)-0.f16"))
        // A folder that is not the cache's.
        try FileManager.default.createDirectory(at: disk.directory.appendingPathComponent("lost+found"), withIntermediateDirectories: true)
        func rows(_ h: String) async throws -> Int { try await StoredFeature.query(on: app.db).filter(\.$blobHash == h).count() }

        // A running detection job still reads the deleted image's views: they stay until it ends.
        FeatureLeases.shared.hold([deleted])
        _ = try await app.training(.DELETE, "projects/\(project)/images?imageIds=\(ids[0])", key: key)
        await app.blobReclaimer.drain()
        let deletedRows = try await rows(deleted)
        XCTAssertEqual(deletedRows, 0)
        XCTAssertEqual(Set(disk.hashes()), [deleted, kept, orphan, "lost+found"])
        _ = try await app.blobSweeper.sweep(grace: 0)
        XCTAssertEqual(Set(disk.hashes()), [deleted, kept, "lost+found"], "held views survive a sweep")
        FeatureLeases.shared.release([deleted])

        _ = try await app.blobSweeper.sweep(grace: 0)
        let orphanRows = try await rows(orphan), keptRows = try await rows(kept)
        XCTAssertEqual(orphanRows, 0)
        XCTAssertEqual(keptRows, 1)
        XCTAssertEqual(Set(disk.hashes()), [kept, "lost+found"])
        XCTAssertEqual(try disk.load(FeatureKey(blobHash: kept, backbone: "lite0@416-\(DetectionView.scheme)", view: 0)), [1, 2, 3])
        XCTAssertNil(try disk.load(FeatureKey(blobHash: kept, backbone: "lite0@416-det416v1", view: 0)), "an old scheme's view goes")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: disk.directory.path)), [kept, "lost+found"],
                       "loose files are gone; a folder that is not a hash is left alone")
        try await app.asyncShutdown()
    }

    func testOneNodeSweepsAtATime() async throws {
        guard TestDatabase.postgresURL != nil else { throw XCTSkip("the lock is PostgreSQL's; SQLite serves one process") }
        let app = try await makeApp()
        let orphan = try await app.blobStore.put(Data("left behind by a stopped upload".utf8))
        // Another node is sweeping: this one leaves it to that one.
        let skipped = try await app.db.transaction { tx in
            _ = try await (tx as! SQLDatabase).raw("SELECT pg_advisory_xact_lock(\(literal: BlobSweeper.sweepLock))").all()
            return try await app.blobSweeper.sweepOnce(grace: 0)
        }
        XCTAssertNil(skipped)
        let stillThere = try await app.blobStore.exists(orphan)
        XCTAssertTrue(stillThere)
        let removed = try await app.blobSweeper.sweepOnce(grace: 0)
        XCTAssertEqual(removed, 1)
        try await app.asyncShutdown()
    }
}
