import Fluent
import Foundation
import SQLKit
import VisionEngine

/// Persists features in the `features` table. A training job preloads what exists into
/// a memory cache, lets the extractor fill the gaps, and saves only the new vectors.
struct FeatureStore {
    let db: Database

    final class Session: FeatureCache, @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [FeatureKey: [Float]] = [:]
        private(set) var fresh: [FeatureKey] = []

        init(entries: [FeatureKey: [Float]]) { self.entries = entries }

        func features(for key: FeatureKey) -> [Float]? {
            lock.lock(); defer { lock.unlock() }
            return entries[key]
        }

        func store(_ features: [Float], for key: FeatureKey) {
            lock.lock(); defer { lock.unlock() }
            entries[key] = features
            fresh.append(key)
        }

        func takeFresh() -> [(FeatureKey, [Float])] {
            lock.lock(); defer { lock.unlock() }
            let out = fresh.map { ($0, entries[$0]!) }
            fresh.removeAll()
            return out
        }
    }

    func session(hashes: [String], backbone: String) async throws -> Session {
        var entries: [FeatureKey: [Float]] = [:]
        for chunk in stride(from: 0, to: hashes.count, by: 500).map({ Array(hashes[$0..<min($0 + 500, hashes.count)]) }) {
            for row in try await StoredFeature.query(on: db).filter(\.$backbone == backbone).filter(\.$blobHash ~~ chunk).all() {
                let v = row.vector.withUnsafeBytes { raw in (0..<row.vector.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
                entries[FeatureKey(blobHash: row.blobHash, backbone: row.backbone, view: row.view)] = v
            }
        }
        return Session(entries: entries)
    }

    /// The session's new vectors in one statement; a vector another job stored first is kept.
    func save(_ session: Session) async throws {
        let fresh = session.takeFresh()
        guard !fresh.isEmpty else { return }
        let sql = db as! SQLDatabase
        var insert = sql.insert(into: StoredFeature.schema).columns("id", "blob_hash", "backbone", "view", "vector")
        for (key, vector) in fresh {
            insert = insert.values([SQLBind(UUID()), SQLBind(key.blobHash), SQLBind(key.backbone), SQLBind(key.view),
                                    SQLBind(vector.withUnsafeBufferPointer { Data(buffer: $0) })])
        }
        try await insert.ignoringConflicts().run()
    }
}
