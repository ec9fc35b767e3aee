import Crypto
import Foundation
import NIOCore

/// Where blobs live: content-addressed bytes (originals, resized copies, thumbnails, models,
/// exports, stored predictions' images), named by their SHA-256. The filesystem under
/// `DATA_DIR` is the embedded default (`FileBlobStore`); `BLOB_STORE_URL=s3://…` puts them in
/// any S3-compatible store (`S3BlobStore`) that every node of a cluster shares.
///
/// A row naming a blob commits only after `put` or `keep` returned; `remove` deletes a blob
/// only when no row names it and it was not written within the grace period, in a way a
/// `put` racing it cannot lose.
protocol BlobStore: Sendable {
    func read(_ hash: String) async throws -> Data
    /// `read` for worker threads (engine, decode pool) that must not suspend: never call it
    /// from an event loop or from Swift concurrency's own threads.
    func readBlocking(_ hash: String) throws -> Data
    /// The bytes as they arrive, for serving a blob without holding all of it.
    func download(_ hash: String) async throws -> BlobDownload
    func exists(_ hash: String) async throws -> Bool
    /// Stores each blob durably; returns their SHA-256s in order.
    func put(_ blobs: [Data]) async throws -> [String]
    /// `put` for bytes whose hashes are known: marks each blob as just written (so no sweep
    /// takes it before its row commits) and writes those that are gone.
    func keep(_ blobs: [(hash: String, data: Data)]) async throws
    /// Every stored blob with when it was last written.
    func list() async throws -> [(hash: String, modified: Date)]
    /// Deletes a blob unless it was written within `grace` or `isReferenced` finds a row that
    /// names it; true when it went.
    func remove(_ hash: String, grace: TimeInterval, isReferenced: @Sendable (String) async throws -> Bool) async throws -> Bool
    /// Finishes what a stopped sweep left half done.
    func recover(isReferenced: @Sendable (String) async throws -> Bool) async throws
}

extension BlobStore {
    @discardableResult
    func put(_ data: Data) async throws -> String { try await put([data])[0] }
}

/// A blob's bytes as they arrive: the first chunk (enough to tell its type), then the rest,
/// each chunk handed to `write`.
struct BlobDownload: Sendable {
    let length: Int?
    let first: ByteBuffer
    let rest: @Sendable (_ write: @Sendable (ByteBuffer) async throws -> Void) async throws -> Void
}

/// The store could not be reached or failed: a request that needs it answers 503 and may be retried.
struct BlobStoreUnavailable: Error, CustomStringConvertible {
    let description: String
}

/// A blob that a row names is not in the store.
struct BlobMissing: Error, CustomStringConvertible {
    let hash: String
    var description: String { "blob \(hash) is not in the store" }
}

enum Blob {
    static func hash(_ data: Data) -> String {
        SHA256.hash(data: data).hex
    }

    static func isHash(_ s: String) -> Bool {
        s.count == 64 && s.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
