import Fluent
import Foundation
import SQLKit
import VisionEngine

/// Cached backbone features are keyed by image bytes; once the bytes are deleted their
/// features are dead weight (a detection image's views take ~7 MB on disk). The blob sweeper
/// drops them with the blob, and each sweep drops any whose blob is gone (a job that was
/// still extracting while its image was deleted, or files of an older cache layout or view scheme).
struct FeaturePruner {
    let db: Database
    let detectionCache: URL

    init(db: Database, dataDir: URL) {
        self.db = db
        detectionCache = DetectionTrainingJob.cacheDirectory(dataDir: dataDir)
    }

    /// Drops the features of one deleted blob (its detection views stay while a running
    /// job reads them; a later sweep takes them).
    func drop(_ hash: String) async throws {
        try await StoredFeature.query(on: db).filter(\.$blobHash == hash).delete()
        guard !FeatureLeases.shared.isHeld(hash) else { return }
        try DiskDetectionFeatureCache(directory: detectionCache).remove(hash: hash)
    }

    /// Drops features whose blob no longer exists; returns how many images' worth went.
    func sweep(exists: (String) async throws -> Bool) async throws -> Int {
        var dropped = 0
        let rows = try await (db as! SQLDatabase).select().distinct().column("blob_hash").from(StoredFeature.schema).all()
        for row in rows {
            let hash = try row.decode(column: "blob_hash", as: String.self)
            if try await !exists(hash) {
                try await StoredFeature.query(on: db).filter(\.$blobHash == hash).delete()
                dropped += 1
            }
        }
        let disk = try DiskDetectionFeatureCache(directory: detectionCache)
        disk.removeLooseFiles()
        disk.removeOtherSchemes(than: DetectionView.scheme)
        // Only folders named by a blob hash are the cache's; anything else is left alone.
        for hash in disk.hashes() where Blob.isHash(hash) && !FeatureLeases.shared.isHeld(hash) {
            guard try await !exists(hash) else { continue }
            disk.remove(hash: hash)
            dropped += 1
        }
        return dropped
    }
}
